// Shipping to an Audit Record Repository (issue #7 §3) against a real second FHIR server (sekmet-fhir,
// started with deploy/demo/start-upstream): while the repository is down requests are served and the spool
// grows; once it is up the spool drains and every record arrives exactly once, as AuditEvent/<record hash>.

import Foundation
import GatewayCore
import GatewayTesting
import Testing

/// A sekmet-fhir instance in a temporary directory, started and stopped by the repository's demo scripts.
struct SekmetRepository {
    let port: Int
    let dataDirectory: String
    var base: String { "http://127.0.0.1:\(port)/fhir" }

    static var script: String { GatewayHarness.repositoryRoot + "/deploy/demo/start-upstream" }
    static var available: Bool {
        FileManager.default.isExecutableFile(atPath: GatewayHarness.repositoryRoot + "/.venv/bin/sekmet")
    }

    func start() throws {
        let output = try Subprocess.run(
            "/usr/bin/timeout",
            ["180", Self.script, "--port", String(port), "--data-dir", dataDirectory, "--patients", "6",
             "--validation", "strict", "--timeout", "150"])
        guard output.status == 0, output.stdoutText.contains("READY") else {
            throw GatewayError(status: 500, issueType: .exception,
                               "sekmet did not start (\(output.status)): \(output.stdoutText) \(output.stderr)")
        }
    }

    func stop() {
        _ = try? Subprocess.run(
            GatewayHarness.repositoryRoot + "/deploy/demo/stop-upstream", ["--data-dir", dataDirectory])
    }

    /// Every AuditEvent the repository holds: id and versionId.
    func auditEvents() throws -> [(id: String, version: String)] {
        let output = try Subprocess.run(
            "/usr/bin/curl", ["-s", "--max-time", "30", base + "/AuditEvent?_count=1000"])
        guard let bundle = try? JSONValue.parse(output.stdout) else { return [] }
        return (bundle["entry"]?.arrayValue ?? []).compactMap { entry in
            guard let id = entry["resource"]?["id"]?.stringValue else { return nil }
            return (id, entry["resource"]?["meta"]?["versionId"]?.stringValue ?? "")
        }
    }
}

@Suite("Audit shipping to a FHIR repository", .serialized)
struct AuditShippingIntegrationTests {
    static let scopes = ["system/MedicationDispense.rs", "system/Patient.rs"]

    @Test("repository down for a while, then up: the spool drains and each record arrives once, by id")
    func downThenUp() throws {
        try #require(SekmetRepository.available, "needs .venv with sekmet-fhir (scripts/setup-python)")
        let repository = SekmetRepository(
            port: try GatewayHarness.freePort(),
            dataDirectory: NSTemporaryDirectory() + "audit-repository-" + UUID().uuidString)
        defer {
            repository.stop()
            try? FileManager.default.removeItem(atPath: repository.dataDirectory)
        }
        let gw = try GatewayHarness(
            clients: [.init(id: "ship-app", scopes: Self.scopes, npis: ["1234567893"])],
            auditConfig: "audit:\n  directory: audit\n  repository_url: \(repository.base)\n")
        defer { gw.stop() }

        // Repository down: requests are still answered at once (shipping never blocks them).
        let token = try gw.token(client: "ship-app", scopes: Self.scopes)
        var ids: [String] = []
        for n in 0..<8 {
            let path = n.isMultiple(of: 3) ? "/fhir/MedicationDispense" : "/fhir/MedicationDispense?patient=pt-\(n)"
            let (id, response) = try gw.tracked("GET", path, bearer: token)
            #expect(response.status == (n.isMultiple(of: 3) ? 403 : 200))
            ids.append(id)
        }
        let (tokenID, issued) = try gw.requestToken(client: "ship-app", scope: "system/Patient.rs")
        #expect(issued.status == 200)
        ids.append(tokenID)
        usleep(1_500_000)
        #expect(try gw.metric("gateway_audit_spool_backlog") >= Double(ids.count))

        // Repository up: the shipper's next retry delivers the backlog.
        try repository.start()
        let records = try gw.auditChain.records()
        let hashes = records.compactMap { $0["hash"]?.stringValue }
        #expect(hashes.count >= ids.count)
        var delivered: [(id: String, version: String)] = []
        for _ in 0..<120 {
            delivered = try repository.auditEvents()
            if delivered.count >= hashes.count { break }
            usleep(500_000)
        }
        let deliveredIDs = delivered.map(\.id)
        #expect(Set(deliveredIDs) == Set(hashes))
        #expect(deliveredIDs.count == Set(deliveredIDs).count, "an AuditEvent id occurs twice")
        #expect(delivered.filter { $0.version != "1" }.map(\.id) == [], "a record was written more than once")
        #expect(try gw.metric("gateway_audit_spool_backlog") == 0)

        // What arrived is the record itself: the event carrying each request id has the record's hash as id.
        let counts = try gw.auditChain.requestIDCounts()
        #expect(ids.filter { counts[$0] != 1 } == [])
    }
}

/// Tests/upstream/audit_repository.py: an HTTPS Audit Record Repository that requires one Authorization
/// value, fails the first POSTs with 503, then stores AuditEvents by id and counts how often each arrived.
final class FixtureRepository {
    typealias Post = (status: Int, authorized: Bool, ids: [String])
    typealias State = (posts: [Post], stored: [String: Int], handshakeFailures: Int)

    let port: Int
    let pki: TestPKI
    private let process: Process

    init(authorization: String, failures: Int) throws {
        pki = try TestPKI.make(caName: "audit repository test CA")
        let (process, words) = try Subprocess.startServer("/usr/bin/python3", [
            GatewayHarness.repositoryRoot + "/Tests/upstream/audit_repository.py", "--port", "0",
            "--tls-cert", pki.serverCertificate, "--tls-key", pki.serverKey, "--authorization", authorization,
            "--fail", String(failures),
        ])
        self.process = process
        guard words.count >= 2, words[0] == "READY", let port = Int(words[1]) else {
            process.terminate()
            pki.remove()
            throw GatewayError(status: 500, issueType: .exception, "audit repository did not start: \(words)")
        }
        self.port = port
    }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        pki.remove()
    }

    /// A gateway shipping to this repository, trusting `ca`, with more `audit:` keys (indented two spaces).
    func gateway(ca: String, extra: String = "") throws -> GatewayHarness {
        try GatewayHarness(
            clients: [.init(id: "ship-app", scopes: AuditShippingIntegrationTests.scopes, npis: ["1234567893"])],
            auditConfig: """
                audit:
                  directory: audit
                  repository_url: https://127.0.0.1:\(port)/fhir
                  repository_ca: \(ca)
                  ship_initial_backoff: 20ms
                  ship_max_backoff: 100ms

                """ + extra)
    }

    /// Every POST (status answered, whether it was authorised, the AuditEvent ids), the stored ids, and the
    /// TLS handshakes that failed.
    func state() throws -> State {
        let output = try Subprocess.run("/usr/bin/curl", [
            "-s", "--cacert", pki.caCertificate, "--max-time", "20", "https://127.0.0.1:\(port)/__control/state",
        ])
        let state = try JSONValue.parse(output.stdout)
        let posts = (state["posts"]?.arrayValue ?? []).map { post in
            (post["status"]?.intValue ?? 0, post["authorized"] == .bool(true),
             (post["ids"]?.arrayValue ?? []).compactMap(\.stringValue))
        }
        var stored: [String: Int] = [:]
        if case .object(let object) = state["stored"] ?? .null {
            for (id, count) in object.members { stored[id] = count.intValue ?? 0 }
        }
        return (posts, stored, state["handshakeFailures"]?.intValue ?? 0)
    }

    /// The state once `done` holds for it, or after a loose bound.
    func state(until done: (State) -> Bool) async throws -> State {
        var state = try state()
        let deadline = Date().addingTimeInterval(60)
        while !done(state), Date() < deadline {
            try await Task.sleep(for: .milliseconds(100))
            state = try self.state()
        }
        return state
    }
}

/// In the serialized suite: the audit metrics (`gateway_audit_spool_backlog`) are process-wide, so two
/// shipping gateways running at once would disturb each other's backlog assertions.
extension AuditShippingIntegrationTests {
    @Test("private CA, token file, batch size and backoff are used: 503s retried, each record stored once")
    func configuredShipping() async throws {
        let token = "audit-" + RandomID.hex128()
        let failures = 3
        let repository = try FixtureRepository(authorization: "Bearer " + token, failures: failures)
        let tokenFile = repository.pki.directory + "/audit-token"
        try (token + "\n").write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let batch = 3
        let gw = try repository.gateway(
            ca: repository.pki.caCertificate,
            extra: "  repository_token_file: \(tokenFile)\n  ship_batch_size: \(batch)\n")
        defer { gw.stop() }

        let bearer = try gw.token(client: "ship-app", scopes: AuditShippingIntegrationTests.scopes)
        for n in 0..<7 {
            let path = n.isMultiple(of: 3) ? "/fhir/MedicationDispense" : "/fhir/MedicationDispense?patient=pt-\(n)"
            _ = try gw.tracked("GET", path, bearer: bearer)
        }
        let hashes = try gw.auditChain.records().compactMap { $0["hash"]?.stringValue }
        #expect(hashes.count >= 7)
        let state = try await repository.state { Set($0.stored.keys) == Set(hashes) }
        #expect(Set(state.stored.keys) == Set(hashes))
        #expect(state.stored.values.allSatisfy { $0 == 1 }, "a record was stored twice: \(state.stored)")
        // The private CA verified the repository (no TLS failure), every POST carried the credential, the
        // first `failures` POSTs were answered 503 and retried with the same records, and no Bundle was
        // bigger than ship_batch_size.
        #expect(state.handshakeFailures == 0)
        #expect(state.posts.allSatisfy { $0.authorized })
        #expect(state.posts.prefix(failures).map(\.status) == Array(repeating: 503, count: failures))
        #expect(state.posts.dropFirst(failures).allSatisfy { $0.status == 200 })
        #expect(state.posts.prefix(failures + 1).allSatisfy { $0.ids == state.posts[0].ids })
        #expect(state.posts.allSatisfy { !$0.ids.isEmpty && $0.ids.count <= batch })
        #expect(state.posts.filter { $0.status == 200 }.flatMap(\.ids) == hashes)
    }

    @Test("repository_ca is what verifies the repository: a certificate from another CA gets no record")
    func untrustedRepository() async throws {
        let repository = try FixtureRepository(authorization: "Bearer x", failures: 0)
        let otherPKI = try TestPKI.make(caName: "some other CA")
        defer { otherPKI.remove() }
        let gw = try repository.gateway(ca: otherPKI.caCertificate)
        defer { gw.stop() }
        let bearer = try gw.token(client: "ship-app", scopes: AuditShippingIntegrationTests.scopes)
        let (_, response) = try gw.tracked("GET", "/fhir/MedicationDispense?patient=pt-1", bearer: bearer)
        #expect(response.status == 200)  // shipping never holds a request up
        let state = try await repository.state { $0.handshakeFailures >= 2 }
        #expect(state.handshakeFailures >= 2, "the gateway did not try (and retry) the repository")
        #expect(state.posts.isEmpty)
        #expect(state.stored.isEmpty)
    }
}
