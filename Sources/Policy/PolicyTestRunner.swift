// `pdmp-gateway policy test`: policy authors' test cases (`policies/tests/*.yaml`). Each case gives a
// principal, a request as a client would send it, and the expected decision; the request goes through the
// real classifier (injected, so this module needs no HTTP code) and then the policy set.
public import FHIR
import Foundation
import GatewayYAML
import SMART

/// The outcome of one policy test case.
public struct PolicyTestCaseResult: Sendable, Hashable {
    /// The test file and case name, e.g. `tests/history.yaml: prescriber may query`.
    public var name: String
    public var passed: Bool
    /// Why it failed (empty when it passed).
    public var failure: String

    /// `PASS name` or `FAIL name: why`.
    public var line: String { passed ? "PASS \(name)" : "FAIL \(name): \(failure)" }
}

/// The outcome of a policy test run.
public struct PolicyTestReport: Sendable {
    public var results: [PolicyTestCaseResult]

    public var passed: Int { results.filter(\.passed).count }
    public var failed: Int { results.count - passed }
    /// `N passed, M failed`.
    public var summary: String { "\(passed) passed, \(failed) failed" }
    /// One line per case, then the summary line.
    public var output: String { (results.map(\.line) + [summary]).joined(separator: "\n") + "\n" }
    /// 0 when every case passed and there was at least one; 1 otherwise.
    public var exitStatus: Int32 { failed == 0 && passed > 0 ? 0 : 1 }
}

/// Runs policy test cases.
public enum PolicyTestRunner {
    /// Turns a request into an Interaction: method, URL (path and query as sent), content type, body.
    /// Throwing means the gateway would reject the request before policy (a test can expect `invalid`).
    public typealias Classifier = (
        _ method: String, _ url: String, _ contentType: String?, _ body: [UInt8]?
    ) throws -> Interaction

    /// The time cases run at unless they give `time`: Monday 2026-01-05 12:00:00 UTC.
    public static let defaultTime: Double = 1_767_614_400

    /// Runs every case in `paths` (files, or directories whose `*.yaml` files are read).
    public static func run(paths: [String], policies: PolicySet, classify: Classifier) -> PolicyTestReport {
        var results: [PolicyTestCaseResult] = []
        for file in expand(paths) {
            results += runFile(file, policies: policies, classify: classify)
        }
        if results.isEmpty {
            results.append(PolicyTestCaseResult(name: paths.joined(separator: " "), passed: false,
                                                failure: "no policy test cases found"))
        }
        return PolicyTestReport(results: results)
    }

    private static func expand(_ paths: [String]) -> [String] {
        var files: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                files += names.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
                    .map { (path as NSString).appendingPathComponent($0) }
            } else {
                files.append(path)
            }
        }
        return files
    }

    private static func runFile(_ file: String, policies: PolicySet, classify: Classifier) -> [PolicyTestCaseResult] {
        let cases: [YAMLNode]
        let principals: [String: YAMLNode]
        do {
            let root = try YAMLParser.parse(contentsOfFile: file)
            try root.expectKeys(["description", "principals", "cases"])
            cases = try root.required("cases").sequence()
            principals = try Dictionary(
                (root.optional("principals")?.mapping() ?? []).map { ($0.key.scalarText ?? "", $0.value) },
                uniquingKeysWith: { first, _ in first })
        } catch {
            return [PolicyTestCaseResult(name: file, passed: false, failure: error.description)]
        }
        let directory = (file as NSString).deletingLastPathComponent
        return cases.enumerated().map { index, node in
            let name = "\(file): " + ((try? node.string(at: "name")) ?? "case \(index + 1)")
            do {
                let testCase = try PolicyTestCase(node, principals: principals, directory: directory)
                return testCase.run(name: name, policies: policies, classify: classify)
            } catch {
                return PolicyTestCaseResult(name: name, passed: false, failure: "\(error)")
            }
        }
    }
}

/// One parsed test case.
struct PolicyTestCase {
    enum Expected: String {
        case allow, deny, invalid
    }

    var principal: Principal
    var method: String
    var url: String
    var contentType: String?
    var body: [UInt8]?
    var address: String
    var mtlsSubject: String?
    var now: Double
    var expected: Expected
    /// The expected deciding rule; `""` for "no rule" (`rule: none`), nil when not checked.
    var expectedRule: String?
    var expectedReason: String?
    var expectedObligations: [String]?
    var expectedShadow: Expected?

    /// - Parameter principals: the file's named principals, which a case may refer to by name.
    init(_ node: YAMLNode, principals: [String: YAMLNode], directory: String) throws(YAMLDecodingError) {
        try node.expectKeys(["name", "description", "principal", "request", "expect"])
        let principalNode = try node.required("principal")
        if principalNode.scalarText != nil {
            let key = try principalNode.string()
            guard let named = principals[key] else {
                throw YAMLDecodingError(at: principalNode, "no principal named '\(key)' in this file's principals")
            }
            principal = try Self.principal(named)
        } else {
            principal = try Self.principal(principalNode)
        }
        let request = try node.required("request")
        try request.expectKeys(["method", "url", "headers", "body", "body_file", "address", "mtls_subject", "time"])
        method = try request.string(at: "method").uppercased()
        url = try request.string(at: "url")
        contentType = try Self.contentType(request.optional("headers"))
        body = try Self.body(request, directory: directory)
        address = try request.optionalString(at: "address") ?? "127.0.0.1"
        mtlsSubject = try request.optionalString(at: "mtls_subject")
        now = try Self.time(request.optional("time")) ?? PolicyTestRunner.defaultTime
        let expect = try node.required("expect")
        try expect.expectKeys(["decision", "rule", "reason", "obligations", "shadow"])
        expected = try Self.expected(expect.required("decision"))
        expectedRule = try expect.optionalString(at: "rule").map { $0 == "none" ? "" : $0 }
        expectedReason = try expect.optionalString(at: "reason")
        expectedObligations = try expect.optionalStringList(at: "obligations")
        expectedShadow = try expect.optional("shadow").map { node throws(YAMLDecodingError) in try Self.expected(node) }
    }

    func run(name: String, policies: PolicySet, classify: PolicyTestRunner.Classifier) -> PolicyTestCaseResult {
        let interaction: Interaction
        do {
            interaction = try classify(method, url, contentType, body)
        } catch {
            let passed = expected == .invalid
            let failure = passed ? "" : "expected \(expected.rawValue), request rejected: \(error)"
            return PolicyTestCaseResult(name: name, passed: passed, failure: failure)
        }
        let input = PolicyInput(principal: principal, interaction: interaction, clientAddress: address,
                                mtlsSubject: mtlsSubject, now: now)
        let decision = policies.evaluate(input)
        let failures = check(decision)
        return PolicyTestCaseResult(name: name, passed: failures.isEmpty, failure: failures.joined(separator: "; "))
    }

    private func check(_ decision: PolicyDecision) -> [String] {
        var failures: [String] = []
        let actual = decision.allowed ? "allow" : "deny"
        let by = decision.decidingRule ?? "none"
        if actual != expected.rawValue {
            failures.append("expected \(expected.rawValue), got \(actual) (rule: \(by))")
        }
        if let expectedRule, expectedRule != (decision.decidingRule ?? "") {
            failures.append("expected rule \(expectedRule.isEmpty ? "none" : expectedRule), got \(by)")
        }
        if let expectedReason, !(decision.reason ?? "").contains(expectedReason) {
            failures.append("expected reason containing '\(expectedReason)', got '\(decision.reason ?? "")'")
        }
        if let expectedObligations {
            let names = decision.obligations.map(\.name)
            if Set(names) != Set(expectedObligations) {
                failures.append("expected obligations [\(expectedObligations.joined(separator: ", "))], got "
                    + "[\(names.joined(separator: ", "))]")
            }
        }
        if let expectedShadow {
            let shadow = (decision.shadowDecision ?? decision.allowed) ? "allow" : "deny"
            if shadow != expectedShadow.rawValue {
                failures.append("expected shadow \(expectedShadow.rawValue), got \(shadow)")
            }
        }
        return failures
    }

    // MARK: Parsing

    private static func principal(_ node: YAMLNode) throws(YAMLDecodingError) -> Principal {
        try node.expectKeys([
            "client", "name", "kind", "roles", "npis", "deas", "networks", "status", "registered", "scopes", "patient",
            "issuer", "purpose_of_use",
        ])
        let id = try node.string(at: "client")
        var client: RegisteredClient?
        if try node.optionalBool(at: "registered") ?? true {
            let kindNode = try node.optional("kind")
            let kind = try kindNode.map { node throws(YAMLDecodingError) -> RegisteredClient.Kind in
                guard let kind = RegisteredClient.Kind(rawValue: try node.string()) else {
                    throw YAMLDecodingError(at: node, "kind must be provider or organization")
                }
                return kind
            } ?? .provider
            let statusNode = try node.optional("status")
            let status = try statusNode.map { node throws(YAMLDecodingError) -> RegisteredClient.Status in
                guard let status = RegisteredClient.Status(rawValue: try node.string()) else {
                    throw YAMLDecodingError(at: node, "status must be active or suspended")
                }
                return status
            } ?? .active
            client = RegisteredClient(
                id: id, name: try node.optionalString(at: "name") ?? id, kind: kind,
                npis: try node.optionalStringList(at: "npis") ?? [],
                deas: try node.optionalStringList(at: "deas") ?? [],
                roles: try node.optionalStringList(at: "roles") ?? [],
                networks: try node.optionalStringList(at: "networks") ?? [], status: status)
        }
        return Principal(
            clientID: id, issuer: try node.optionalString(at: "issuer") ?? "https://gateway.test",
            scopes: try node.optionalStringList(at: "scopes") ?? [], patient: try node.optionalString(at: "patient"),
            purposeOfUse: try node.optionalString(at: "purpose_of_use"), expiresAt: PolicyTestRunner.defaultTime + 300,
            client: client)
    }

    private static func contentType(_ headers: YAMLNode?) throws(YAMLDecodingError) -> String? {
        guard let headers else { return nil }
        for entry in try headers.mapping() where entry.key.scalarText?.lowercased() == "content-type" {
            return try entry.value.string()
        }
        return nil
    }

    private static func body(_ request: YAMLNode, directory: String) throws(YAMLDecodingError) -> [UInt8]? {
        if let inline = try request.optionalString(at: "body") {
            if request["body_file"] != nil {
                throw YAMLDecodingError(at: request, "give body or body_file, not both")
            }
            return Array(inline.utf8)
        }
        guard let fileNode = try request.optional("body_file") else { return nil }
        let relative = try fileNode.string()
        let path = relative.hasPrefix("/") ? relative : (directory as NSString).appendingPathComponent(relative)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw YAMLDecodingError(at: fileNode, "cannot read body file \(path)")
        }
        return [UInt8](data)
    }

    private static func time(_ node: YAMLNode?) throws(YAMLDecodingError) -> Double? {
        guard let node else { return nil }
        let formatter = ISO8601DateFormatter()
        guard let date = formatter.date(from: try node.string()) else {
            throw YAMLDecodingError(at: node, "time must be an ISO 8601 timestamp such as 2026-01-05T12:00:00Z")
        }
        return date.timeIntervalSince1970
    }

    private static func expected(_ node: YAMLNode) throws(YAMLDecodingError) -> Expected {
        guard let value = Expected(rawValue: try node.string()) else {
            throw YAMLDecodingError(at: node, "decision must be allow, deny or invalid")
        }
        return value
    }
}
