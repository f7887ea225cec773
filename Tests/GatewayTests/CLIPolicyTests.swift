import Foundation
import GatewayCrypto
import Synchronization
import Testing
@testable import Gateway

@Suite("pdmp-gateway policy test and policy explain")
struct CLIPolicyTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    /// A gateway directory with a copy of the shipped `policies/`, a gateway.yaml and two registered clients.
    struct Fixture {
        let dir: TemporaryDirectory
        let config: String

        init(clients: Bool = true) throws {
            dir = try TemporaryDirectory()
            config = try dir.writeGatewayConfig()
            try FileManager.default.copyItem(atPath: CLIPolicyTests.repositoryRoot + "/policies",
                                             toPath: dir.file("policies"))
            guard clients else { return }
            let key = try dir.write("client-key.pem", try PrivateKey.generateEC(.p384).publicPEM())
            for arguments in [
                ["pharmacy-one", "--kind", "organization", "--role", "pharmacist", "--npi", "1111111112",
                 "--network", "10.20.0.0/16", "--scope", "system/MedicationDispense.rs system/Patient.rs"],
                ["dr-suspended", "--kind", "provider", "--role", "prescriber", "--scope", "system/*.rs"],
            ] {
                let run = runCLI(["clients", "add"] + arguments + ["--public-key", key, "--config", config])
                guard run.status == 0 else { throw CommandFailure(run.err) }
            }
            guard runCLI(["clients", "suspend", "dr-suspended", "--config", config]).status == 0 else {
                throw CommandFailure("suspend failed")
            }
        }

        func explain(_ arguments: [String]) -> CLIRun {
            runCLI(["policy", "explain", "--config", config] + arguments)
        }
    }

    @Test("the shipped policies pass their own test cases through the real classifier")
    func shippedPoliciesPass() throws {
        let fixture = try Fixture(clients: false)
        let run = runCLI(["policy", "test", "--config", fixture.config])
        #expect(run.status == 0, "\(run.out)")
        let lines = run.out.split(separator: "\n")
        let summary = try #require(lines.last)
        #expect(summary.hasSuffix(" passed, 0 failed"))
        let passed = Int(summary.split(separator: " ")[0]) ?? 0
        #expect(passed >= 25)
        #expect(lines.dropLast().allSatisfy { $0.hasPrefix("PASS ") })
        #expect(lines.count == passed + 1)
    }

    @Test("a failing case prints FAIL with the reason, the summary counts it, exit 1")
    func failingCase() throws {
        let fixture = try Fixture(clients: false)
        let file = try fixture.dir.write("extra/wrong.yaml", """
            cases:
              - name: a population query is wrongly expected to pass
                principal: {client: dr-a, roles: [prescriber], scopes: [system/*.rs]}
                request: {method: GET, url: /fhir/MedicationDispense}
                expect: {decision: allow}
              - name: a single-patient search is allowed
                principal: {client: dr-a, roles: [prescriber], scopes: [system/*.rs]}
                request: {method: GET, url: /fhir/MedicationDispense?patient=pt-alice}
                expect: {decision: allow, rule: patient-data:search-one-patient}

            """)
        let run = runCLI(["policy", "test", "--config", fixture.config, file])
        #expect(run.status == 1)
        #expect(run.out.contains("FAIL \(file): a population query is wrongly expected to pass: "
            + "expected allow, got deny (rule: prohibited:no-population-queries)"))
        #expect(run.out.contains("PASS \(file): a single-patient search is allowed"))
        #expect(run.out.hasSuffix("1 passed, 1 failed\n"))
    }

    @Test("the classifier uses the configured FHIR base path")
    func configuredBase() throws {
        let fixture = try Fixture(clients: false)
        let yaml = try #require(fixture.dir.read("gateway.yaml"))
        try fixture.dir.write("gateway.yaml", yaml + "fhir:\n  base_path: /pdmp/r4\n")
        let file = try fixture.dir.write("base.yaml", """
            cases:
              - name: the configured base classifies
                principal: {client: dr-a, roles: [prescriber]}
                request: {method: GET, url: /pdmp/r4/Patient/pt-alice}
                expect: {decision: allow, rule: patient-data:read-patient}
              - name: the default base is not the FHIR API here
                principal: {client: dr-a, roles: [prescriber]}
                request: {method: GET, url: /fhir/Patient/pt-alice}
                expect: {decision: invalid}

            """)
        let run = runCLI(["policy", "test", "--config", fixture.config, file])
        #expect(run.status == 0, "\(run.out)")
        #expect(run.out.hasSuffix("2 passed, 0 failed\n"))
    }

    @Test("a broken policy directory is reported with file and line, exit 1")
    func brokenPolicies() throws {
        let fixture = try Fixture(clients: false)
        try fixture.dir.write(
            "policies/zz-bad.yaml", "rules:\n  - name: x\n    effect: permit\n    when: {nope.attr: 1}\n")
        let run = runCLI(["policy", "test", "--config", fixture.config])
        #expect(run.status == 1)
        #expect(run.err.contains("zz-bad.yaml:"))
    }

    @Test("explain names the scope decision first, then the deciding rule")
    func explainAllowed() throws {
        let fixture = try Fixture()
        let run = fixture.explain(["--client", "pharmacy-one", "GET", "/fhir/MedicationDispense?patient=pt-alice"])
        #expect(run.status == 0, "\(run.err)")
        let lines = run.out.split(separator: "\n").map(String.init)
        #expect(lines.first == "scopes: system/MedicationDispense.rs system/Patient.rs")
        #expect(lines.dropFirst().first == "scope decision: ALLOW (system-level scope)")
        #expect(run.out.contains("address 10.20.0.1"))
        #expect(run.out.contains("rule patient-data:search-one-patient (permit): MATCHED"))
        #expect(run.out.contains("decision: ALLOW by patient-data:search-one-patient"))
    }

    @Test("explain shows a denial, its rule and reason")
    func explainDenied() throws {
        let fixture = try Fixture()
        let population = fixture.explain(["--client", "pharmacy-one", "GET", "/fhir/MedicationDispense"])
        #expect(population.status == 0)
        #expect(population.out.contains("decision: DENY by prohibited:no-population-queries"))
        #expect(population.out.contains("reason: Population queries are not allowed"))

        let suspended = fixture.explain(["--client", "dr-suspended", "GET", "/fhir/Patient/pt-alice"])
        #expect(suspended.out.contains("decision: DENY by requesters:suspended-requester"))
    }

    @Test("explain reports a scope denial and a patient outside the token's context")
    func explainScopeAndPatient() throws {
        let fixture = try Fixture()
        let scope = fixture.explain([
            "--client", "pharmacy-one", "--scope", "system/Patient.rs",
            "GET", "/fhir/MedicationDispense?patient=pt-alice",
        ])
        #expect(scope.out.contains("scope decision: DENY"))
        #expect(scope.out.contains("the gateway refuses before policy"))
        for arguments in [
            ["--patient", "pt-bob", "GET", "https://gw.example/fhir/MedicationDispense?patient=pt-alice"],
            ["GET", "https://gw.example/fhir/MedicationDispense?patient=pt-alice", "--patient", "pt-bob"],
            ["GET", "--patient", "pt-bob", "/fhir/MedicationDispense?patient=pt-alice"],
        ] {
            let run = fixture.explain(["--client", "pharmacy-one"] + arguments)
            #expect(run.status == 0, "\(run.err)")
            #expect(run.out.contains("patient context pt-bob: DENY"))
            #expect(run.out.contains("decision: DENY by patient-data:patient-outside-token-context"))
        }
    }

    @Test("explain of a request the classifier refuses says so; an unknown client fails")
    func explainRefusals() throws {
        let fixture = try Fixture()
        let refused = fixture.explain(["--client", "pharmacy-one", "GET", "/fhir/Patient/../Patient/pt-bob"])
        #expect(refused.status == 0)
        #expect(refused.out.hasPrefix("request: REFUSED before authorization"))
        let unknown = fixture.explain(["--client", "nobody", "GET", "/fhir/Patient/pt-alice"])
        #expect(unknown.status == 1)
        #expect(unknown.err.contains("no client nobody"))
        #expect(fixture.explain(["--client", "pharmacy-one", "GET"]).status == 2)
        #expect(fixture.explain(["GET", "/fhir/Patient/pt-alice"]).status == 2)
    }
}

@Suite("policy tools from a checkout, without a gateway configuration (the real binary)")
struct CLIPolicyWithoutConfigTests {
    static let binary = CLIPolicyTests.repositoryRoot + "/.build/debug/pdmp-gateway"

    /// Runs the binary in `directory` (as an author types the documented commands there).
    static func run(in directory: String, _ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let errData = Mutex<Data?>(nil)
        let reader = Thread { errData.withLock { $0 = err.fileHandleForReading.readDataToEndOfFile() } }
        reader.start()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        while errData.withLock({ $0 == nil }) { usleep(1000) }
        return (process.terminationStatus, String(decoding: outData, as: UTF8.self),
                String(decoding: errData.withLock { $0 } ?? Data(), as: UTF8.self))
    }

    @Test("docs/policies.md's commands work from the repository root: policy test, check, explain")
    func fromRepositoryRoot() throws {
        let root = CLIPolicyTests.repositoryRoot
        let test = try Self.run(in: root, ["policy", "test"])
        #expect(test.status == 0, "\(test.err)")
        #expect(test.out.contains(" passed, 0 failed"))
        let check = try Self.run(in: root, ["policy", "check"])
        #expect(check.status == 0, "\(check.err)")
        #expect(check.out.contains("are valid"))
        let one = try Self.run(in: root, ["policy", "test", "policies/tests/prohibited.yaml"])
        #expect(one.status == 0, "\(one.err)")
    }

    @Test("--policies DIR works from anywhere; with neither config nor policies the error says what to pass")
    func policiesFlag() throws {
        let empty = NSTemporaryDirectory() + "pdmp-empty-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: empty) }
        let nothing = try Self.run(in: empty, ["policy", "test"])
        #expect(nothing.status == 1)
        #expect(nothing.err.contains("--config FILE or --policies DIR"), "\(nothing.err)")
        let flagged = try Self.run(in: empty, ["policy", "test", "--policies", CLIPolicyTests.repositoryRoot + "/policies"])
        #expect(flagged.status == 0, "\(flagged.err)")
    }

    @Test("policy_time_zone: time.hour is the PDMP's local hour (23:30 UTC is 18:30 in New York); bad zones are refused")
    func policyTimeZone() throws {
        let fixture = try CLIPolicyTests.Fixture(clients: false)
        try FileManager.default.copyItem(
            atPath: CLIPolicyTests.repositoryRoot + "/policies/tests/bodies", toPath: fixture.dir.file("bodies"))
        let cases = try fixture.dir.write("zone.yaml", """
            cases:
              - name: an evening history query, by the clock of the configured zone
                principal:
                  client: dr-carol
                  roles: [prescriber]
                  npis: ["1234567893"]
                  scopes: [system/Patient.rs, system/MedicationDispense.rs]
                request:
                  method: POST
                  url: /fhir/Patient/$pdmp-history
                  headers: {Content-Type: application/fhir+json}
                  body_file: bodies/history-carol.json
                  time: 2026-01-06T23:30:00Z
                expect: {decision: allow, shadow: allow}

            """)
        let yaml = try #require(fixture.dir.read("gateway.yaml"))
        // UTC (the default): 23:30 is outside the office-hours trial, whose shadow rule would refuse it.
        let utc = runCLI(["policy", "test", "--config", fixture.config, cases])
        #expect(utc.status == 1)
        #expect(utc.out.contains("expected shadow allow, got deny"), "\(utc.out)")
        try fixture.dir.write("gateway.yaml", yaml + "policy_time_zone: America/New_York\n")
        let newYork = runCLI(["policy", "test", "--config", fixture.config, cases])
        #expect(newYork.status == 0, "\(newYork.out)\(newYork.err)")
        for bad in ["Mars/Olympus_Mons", "EST5EDT-ish", "42"] {
            try fixture.dir.write("gateway.yaml", yaml + "policy_time_zone: \(bad)\n")
            let refused = runCLI(["check", "--config", fixture.config])
            #expect(refused.status == 1)
            #expect(refused.err.contains("policy_time_zone") || refused.err.contains("IANA time zone"), "\(refused.err)")
        }
    }
}
