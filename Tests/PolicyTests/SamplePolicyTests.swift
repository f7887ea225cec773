import FHIR
import SMART
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

    @Test("the flattened evaluator agrees with the condition trees on every rule")
    func flatMatchesTree() throws {
        let set = try PolicySet.load(directory: Self.policyDirectory)
        let requests: [(String, String, String?)] = [
            ("GET", "/fhir/MedicationDispense?patient=pt-alice", nil),
            ("GET", "/fhir/MedicationDispense?status=completed", nil),
            ("GET", "/fhir/MedicationDispense?patient=pt-alice,pt-bob", nil),
            ("GET", "/fhir/Patient/pt-alice", nil),
            ("GET", "/fhir/MedicationDispense/md-1", nil),
            ("DELETE", "/fhir/MedicationDispense/md-1", nil),
            ("POST", "/fhir/Patient/$pdmp-history", "history-carol.json"),
            ("POST", "/fhir/Patient/$pdmp-history", "history-veterinary.json"),
            ("POST", "/fhir/Patient/$pdmp-history", "history-carol-with-delegate.json"),
            ("POST", "/fhir/Patient/$pdmp-history", "history-unregistered-practitioner.json"),
        ]
        let clients = [
            Fixtures.client(), Fixtures.client(roles: ["delegate"]),
            Fixtures.client(npis: [], deas: ["AB1234563"], roles: ["veterinarian"]),
            Fixtures.client(kind: .organization, networks: ["10.0.0.0/8"], status: .suspended),
        ]
        var checked = 0
        for (method, url, body) in requests {
            let bytes = try body.map { try [UInt8](Data(contentsOf: URL(fileURLWithPath:
                Self.policyDirectory + "/tests/bodies/" + $0))) }
            let interaction = try Self.classify(method: method, url: url,
                                                contentType: body == nil ? nil : "application/fhir+json", body: bytes)
            for client in clients + [nil] {
                for patient in [nil, "pt-alice"] {
                    for (address, hour) in [("10.1.2.3", 0.0), ("2001:db8::1", 13.0)] {
                        let input = Fixtures.input(interaction, principal: Fixtures.principal(client, patient: patient),
                                                   address: address, now: 1_796_169_600 + hour * 3600)
                        let decision = set.evaluate(input)
                        let expected = set.rules.filter { $0.mode == .enforce && set.treeMatches($0, input) }.map(\.id)
                        let shadow = set.rules.filter { $0.mode == .shadow && set.treeMatches($0, input) }.map(\.id)
                        #expect(decision.matchedRules == expected)
                        #expect(decision.shadow.map(\.rule) == shadow)
                        checked += 1
                    }
                }
            }
        }
        #expect(checked == 200)
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
