import Foundation
import GatewayYAML
import Testing
@testable import Policy

@Suite("Policy loading and checking")
struct PolicyLoaderTests {
    private func temporaryDirectory(_ files: [String: String]) throws -> String {
        let path = NSTemporaryDirectory() + "policies-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        for (name, text) in files {
            try text.write(toFile: path + "/" + name, atomically: true, encoding: .utf8)
        }
        return path
    }

    private func loadErrors(directory: String) -> [String]? {
        do {
            _ = try PolicySet.load(directory: directory)
            return nil
        } catch {
            return error.errors.map(\.description)
        }
    }

    private let valid = "rules:\n  - name: r\n    effect: permit\n    when: {request.kind: read}\n"

    // POL-01 (b): an empty, missing or broken policy directory never means "allow".
    @Test("a missing directory is an error")
    func missingDirectory() {
        #expect(loadErrors(directory: "/nonexistent/policies") == ["/nonexistent/policies: policy directory not found"])
    }

    @Test("an empty directory is an error")
    func emptyDirectory() throws {
        let directory = try temporaryDirectory(["README.txt": "not a policy"])
        #expect(loadErrors(directory: directory) == ["\(directory): no policy files (*.yaml) in directory"])
    }

    @Test("an empty policy file is an error")
    func emptyFile() throws {
        let directory = try temporaryDirectory(["a.yaml": valid, "empty.yaml": ""])
        #expect(loadErrors(directory: directory)
            == ["\(directory)/empty.yaml:1:1: empty policy file (a policy file must define at least one rule)"])
        #expect(Fixtures.loadErrors(["f": "rules: []\n"])
            == ["f.yaml:1:8: rules: a policy file must define at least one rule"])
    }

    @Test("a syntax error fails the whole set, and every file's errors are reported")
    func brokenFiles() throws {
        let directory = try temporaryDirectory([
            "a.yaml": valid,
            "b.yaml": "rules:\n  - name: [unclosed\n",
            "c.yaml": "rules:\n  - name: x\n    effect: allow\n    when: {request.kind: read}\n",
        ])
        let errors = try #require(loadErrors(directory: directory))
        #expect(errors.count == 2)
        #expect(errors[0].hasPrefix("\(directory)/b.yaml:"))
        #expect(errors[1] == "\(directory)/c.yaml:3:13: rules[0].effect: effect must be permit or forbid")
    }

    @Test("loads a directory in file-name order, ignoring tests/ and other files")
    func loadsDirectory() throws {
        let directory = try temporaryDirectory([
            "b.yaml": valid.replacingOccurrences(of: "name: r", with: "name: second"),
            "a.yml": valid.replacingOccurrences(of: "name: r", with: "name: first"),
            "notes.md": "# ignored",
        ])
        try FileManager.default.createDirectory(atPath: directory + "/tests", withIntermediateDirectories: true)
        try "cases: []".write(toFile: directory + "/tests/t.yaml", atomically: true, encoding: .utf8)
        let set = try PolicySet.load(directory: directory)
        #expect(set.ruleIDs == ["a:first", "b:second"])
        #expect(set.files == ["a", "b"])
    }

    @Test("reports unknown attributes, matchers, obligations and keys with their lines")
    func unknownNames() {
        let errors = Fixtures.loadErrors(["p": """
            rules:
              - name: r
                effect: permit
                when:
                  request.knd: read
                  client.roles: {has: prescriber}
                obligations:
                  - check_compartment
                  - rate_limit: {bucket: per-client, limit: 5, per: fortnight}
                reasn: typo
            """])
        #expect(errors == [
            "p.yaml:10:5: rules[0].reasn: unknown key 'reasn' (expected one of: name, description, effect, when, "
                + "reason, obligations, mode)",
            "p.yaml:5:7: rules[0].when: unknown attribute 'request.knd' (known request attributes: request.kind, "
                + "request.method, request.type, request.id, request.operation, request.parameters, request.patients, "
                + "request.returned_types)",
            "p.yaml:6:22: rules[0].when.client.roles: unknown matcher 'has' for client.roles (expected one of: "
                + "equals, in, contains, not, exists, cidr, cidr_attribute, in_attribute, count, min, max, any-of, "
                + "all-of)",
            "p.yaml:8:9: rules[0].obligations[0]: unknown obligation 'check_compartment' (expected one of: "
                + "check_response_compartment, narrow_search_to_patient, audit_detail, rate_limit)",
            "p.yaml:9:57: rules[0].obligations[1].rate_limit.per: per must be one of: second, minute, hour, day",
        ])
    }

    @Test("reports values of the wrong type or outside an attribute's vocabulary")
    func wrongTypes() {
        let errors = Fixtures.loadErrors(["p": """
            rules:
              - name: r
                effect: permit
                when:
                  request.kind: serch
                  pdmp.animal_owner: "yes"
                  time.hour: {min: 25}
                  request.type: medicationdispense
                  network.address: {cidr: 10.0.0.1/8}
                  client.roles: {equals: prescriber}
                  request.patients: {min: 1}
                  client.id: {cidr: 10.0.0.0/8}
                  pdmp.practitioner.npi: {in_attribute: time.hour}
            """])
        #expect(errors.count == 9)
        #expect(errors[0].contains("5:21") && errors[0].contains("unknown value 'serch' for request.kind"))
        #expect(errors[1].contains("6:26") && errors[1].contains("expected true or false, found a quoted string"))
        #expect(errors[2].contains("an hour is 0 to 23"))
        #expect(errors[3].contains("'medicationdispense' is not a FHIR resource type"))
        #expect(errors[4].contains("'10.0.0.1/8' is not a CIDR block (host bits are set after the prefix)"))
        #expect(errors[5].contains("equals does not apply to client.roles (a set of strings); use contains"))
        #expect(errors[6].contains("min does not apply to request.patients (a set of strings); use count: {min: N}"))
        #expect(errors[7].contains("cidr does not apply to client.id (a string)"))
        #expect(errors[8].contains("time.hour (an integer) cannot be compared with pdmp.practitioner.npi"))
    }

    @Test("refuses duplicate rule names across files")
    func duplicateNames() {
        let errors = Fixtures.loadErrors(["a": valid, "b": valid])
        #expect(errors == ["b.yaml:2:11: rules[0].name: duplicate rule name 'r' (first at a.yaml:2:11)"])
    }

    @Test("refuses obligations a forbid cannot carry, and repeated obligations")
    func obligationPlacement() {
        let errors = Fixtures.loadErrors(["p": """
            rules:
              - name: r
                effect: forbid
                when: {request.kind: read}
                obligations: [check_response_compartment, {audit_detail: full}]
              - name: s
                effect: permit
                when: {request.kind: read}
                obligations: [narrow_search_to_patient, narrow_search_to_patient]
            """])
        #expect(errors == [
            "p.yaml:5:19: rules[0].obligations[0]: obligation check_response_compartment has no effect on a "
                + "forbid rule",
            "p.yaml:9:45: rules[1].obligations[1]: obligation narrow_search_to_patient is listed twice",
        ])
    }

    @Test("reports rules that can never match", arguments: [
        ("all-of: [{request.kind: read}, {request.kind: search-type}]", "cannot all hold"),
        ("request.patients: {all-of: [exactly-one, none]}", "matches no value"),
        ("request.patients: {contains: p1, count: 0}", "matches no value"),
        ("all-of: [{pdmp.animal_owner: true}, {pdmp.animal_owner: false}]", "cannot all hold"),
        ("time.hour: {min: 18, max: 6}", "matches no value"),
        ("request.kind: {in: [read], not: {in: [read, vread]}}", "matches no value"),
        ("any-of: [{request.kind: {all-of: [read, delete]}}, {client.kind: {all-of: [provider, organization]}}]",
         "no branch of any-of can match"),
        ("client.roles: {count: {min: 2}, not: {exists: true}}", "matches no value"),
    ])
    func unsatisfiable(when: String, expected: String) {
        let errors = Fixtures.loadErrors(["p": "rules:\n  - name: r\n    effect: permit\n    when: {\(when)}\n"])
        #expect(errors.count == 1)
        #expect(errors.first?.contains("rule 'r' can never match") == true)
        #expect(errors.first?.contains(expected) == true, "\(errors)")
    }

    @Test("accepts satisfiable rules that look similar", arguments: [
        "all-of: [{request.kind: {in: [read, vread]}}, {request.kind: {not: read}}]",
        "request.patients: {count: {min: 1}, not: {contains: p1}}",
        "pdmp.practitioner.npi: {in_attribute: client.npis, exists: true}",
        "network.address: {cidr: 10.0.0.0/8, not: {cidr: 10.1.0.0/16}}",
        "request.id: {not: {in: [a, b]}}",
        "client.roles: {not: none}",
    ])
    func satisfiable(when: String) {
        #expect(Fixtures.loadErrors(["p": "rules:\n  - name: r\n    effect: permit\n    when: {\(when)}\n"]) == [])
    }

    @Test("requires rules to be well formed")
    func ruleShape() {
        let errors = Fixtures.loadErrors(["p": """
            mode: dry-run
            rules:
              - effect: permit
                when: {request.kind: read}
              - name: "bad name!"
                effect: permit
                when: {}
              - just-a-string
            """])
        #expect(errors.count == 4)
        #expect(errors[0].contains("mode must be enforce or shadow"))
        #expect(errors[1].contains("missing required key 'name'"))
        #expect(errors[2].contains("rule names use letters, digits"))
        #expect(errors[3].contains("expected a rule"))
    }
}
