import FHIR
import Foundation
import Testing
@testable import Policy

@Suite("Policy test runner")
struct PolicyTestRunnerTests {
    private struct Rejected: Error, CustomStringConvertible {
        var description: String { "400 not understood" }
    }

    /// A stand-in classifier: `GET /fhir/{type}?patient=x` is a search, anything else is refused.
    private static func fakeClassify(method: String, url: String, contentType: String?, body: [UInt8]?) throws
        -> Interaction
    {
        let parts = url.split(separator: "?", maxSplits: 1)
        let segments = parts[0].split(separator: "/")
        guard method == "GET", segments.count == 2, segments[0] == "fhir" else { throw Rejected() }
        var patients: Set<String> = []
        if parts.count == 2, parts[1].hasPrefix("patient=") { patients.insert(String(parts[1].dropFirst(8))) }
        return Interaction(kind: .searchType, method: method, resourceType: String(segments[1]), patients: patients)
    }

    private let policies = """
        rules:
          - name: one-patient
            effect: permit
            when: {request.kind: search-type, request.patients: exactly-one}
            obligations: [check_response_compartment]
        """

    private func write(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "policy-test-\(UUID().uuidString).yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("prints one line per case and a summary, exiting 1 when a case fails")
    func passAndFail() throws {
        let set = try Fixtures.policies(["p": policies])
        let file = try write("""
            principals:
              doc: {client: doc, roles: [prescriber]}
            cases:
              - name: one patient is allowed
                principal: doc
                request: {method: GET, url: /fhir/MedicationDispense?patient=pt-1}
                expect: {decision: allow, rule: p:one-patient, obligations: [check_response_compartment]}
              - name: wrongly expects a population search to be allowed
                principal: {client: other}
                request: {method: GET, url: /fhir/MedicationDispense}
                expect: {decision: allow, rule: p:one-patient}
              - name: a refused request
                principal: doc
                request: {method: DELETE, url: /fhir/MedicationDispense/1}
                expect: {decision: invalid}
              - name: refused but expected to be denied
                principal: doc
                request: {method: DELETE, url: /fhir/MedicationDispense/1}
                expect: {decision: deny}
            """)
        let report = PolicyTestRunner.run(paths: [file], policies: set, classify: Self.fakeClassify)
        #expect(report.results.map(\.passed) == [true, false, true, false])
        #expect(report.results[1].line == "FAIL \(file): wrongly expects a population search to be allowed: "
            + "expected allow, got deny (rule: none); expected rule p:one-patient, got none")
        #expect(report.results[3].failure == "expected deny, request rejected: 400 not understood")
        #expect(report.summary == "2 passed, 2 failed")
        #expect(report.output.hasSuffix("2 passed, 2 failed\n"))
        #expect(report.exitStatus == 1)
    }

    @Test("reports malformed cases with their line, and an empty run as a failure")
    func malformed() throws {
        let set = try Fixtures.policies(["p": policies])
        let file = try write("""
            cases:
              - name: typo in expect
                principal: {client: doc}
                request: {method: GET, url: /fhir/X}
                expect: {decison: allow}
              - name: unknown principal
                principal: nobody
                request: {method: GET, url: /fhir/X}
                expect: {decision: allow}
            """)
        let report = PolicyTestRunner.run(paths: [file], policies: set, classify: Self.fakeClassify)
        #expect(report.failed == 2)
        #expect(report.results[0].failure.contains("\(file):5:14: cases[0].expect.decison: unknown key 'decison'"))
        #expect(report.results[1].failure.contains("no principal named 'nobody'"))

        let empty = PolicyTestRunner.run(paths: [try write("cases: []\n")], policies: set, classify: Self.fakeClassify)
        #expect(empty.exitStatus == 1)
        #expect(empty.results.first?.failure == "no policy test cases found")
        let missing = PolicyTestRunner.run(paths: ["/nonexistent/t.yaml"], policies: set, classify: Self.fakeClassify)
        #expect(missing.exitStatus == 1)
        #expect(missing.results.first?.failure == "/nonexistent/t.yaml:1:1: cannot read file: no such file")
    }
}

@Suite("Policy explainer")
struct PolicyExplainerTests {
    @Test("shows every rule, each condition's result and value, and the decision")
    func explain() throws {
        let set = try Fixtures.policies(["history": """
            rules:
              - name: own-practitioner
                effect: permit
                when:
                  pdmp.request: true
                  pdmp.practitioner.npi: {in_attribute: client.npis}
                  any-of:
                    - client.roles: prescriber
                    - client.roles: pharmacist
              - name: no-vets
                effect: forbid
                when:
                  not: {client.roles: veterinarian}
                  pdmp.animal_owner: true
                reason: Veterinary requests need a veterinarian.
            """])
        let text = PolicyExplainer.explain(Fixtures.input(Fixtures.history(npi: "1999999992")), policies: set)
        #expect(text == """
            request: POST operation Patient $pdmp-history; client dr-carol (provider; roles: prescriber); \
            patients named: 0; address 192.0.2.10
            rule history:own-practitioner (permit): not matched
              yes  pdmp.request: true   [pdmp.request = true]
              NO   pdmp.practitioner.npi: {in_attribute: client.npis}   \
            [pdmp.practitioner.npi = 1999999992; client.npis = [1234567893]]
              yes  any-of:
                yes  client.roles: prescriber   [client.roles = [prescriber]]
                NO   client.roles: pharmacist   [client.roles = [prescriber]]
            rule history:no-vets (forbid): not matched
              yes  not:
                NO   client.roles: veterinarian   [client.roles = [prescriber]]
              NO   pdmp.animal_owner: true   [pdmp.animal_owner = false]
            decision: DENY by default (no rule permits)
            reason: No policy rule permits this request.

            """)
        let allowed = PolicyExplainer.explain(Fixtures.input(Fixtures.history()), policies: set)
        #expect(allowed.contains("rule history:own-practitioner (permit): MATCHED"))
        #expect(allowed.hasSuffix("decision: ALLOW by history:own-practitioner\n"))
    }
}
