import FHIR
import Foundation
import Testing
@testable import Policy

/// The shipped sample policies (`policies/`) and their authors' test cases, run through the real classifier.
@Suite("Sample PDMP policies")
struct SamplePolicyTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let policyDirectory = root + "/policies"

    static func classify(method: String, url: String, contentType: String?, body: [UInt8]?) throws -> Interaction {
        try FHIRClassifier().classify(method: method, target: url, contentType: contentType, body: body ?? [])
    }

    @Test("the sample policies load without errors")
    func load() throws {
        let set = try PolicySet.load(directory: Self.policyDirectory)
        #expect(set.files == ["patient-data", "pdmp-history", "prohibited", "requesters", "trial-office-hours"])
        #expect(set.shadowRuleIDs == ["trial-office-hours:history-outside-office-hours"])
    }

    @Test("every sample policy test case passes")
    func authorTests() throws {
        let set = try PolicySet.load(directory: Self.policyDirectory)
        let report = PolicyTestRunner.run(paths: [Self.policyDirectory + "/tests"], policies: set,
                                          classify: Self.classify)
        print(report.output, terminator: "")
        for result in report.results where !result.passed { Issue.record("\(result.line)") }
        #expect(report.failed == 0)
        #expect(report.passed >= 25)
        #expect(report.exitStatus == 0)
    }
}
