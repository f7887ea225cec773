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
