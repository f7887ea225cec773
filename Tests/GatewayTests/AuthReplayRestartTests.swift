// TOK-01 (d): a captured client assertion replayed after the gateway restarts. With `shared_state: memory`
// the used jtis are kept in the audit directory (Sources/Gateway/Auth/DurableReplayCache.swift); this runs
// the real `pdmp-gateway serve` binary, kills it without a chance to clean up, starts it again on the same
// configuration and replays the assertion from the outside.

import Foundation
import GatewayCore
import GatewayTesting
import SMART
import Synchronization
import Testing
@testable import Gateway

#if canImport(Glibc)
    import Glibc
#endif

@Suite("TOK-01 (d): replay after a restart of the real binary", .serialized)
struct AuthReplayRestartTests {
    static var binary: String { GatewayHarness.repositoryRoot + "/.build/debug/pdmp-gateway" }

    /// The binary on a configuration next to a harness's keys and clients.yaml, with its own audit directory.
    final class BinaryGateway: @unchecked Sendable {
        // Safe: the process handle is only touched by the test's thread.
        let harness: GatewayHarness
        let port: Int
        let adminPort: Int
        let configPath: String
        var process: Process?

        var tokenURL: String { "https://127.0.0.1:\(port)/auth/token" }

        init() throws {
            harness = try GatewayHarness(clients: [.init(id: "app-1", scopes: ["system/MedicationDispense.rs"])])
            port = try GatewayHarness.freePort()
            adminPort = try GatewayHarness.freePort()
            configPath = harness.directory + "/binary.yaml"
            try GatewayHarness.writeConfig(
                to: configPath, port: port, adminPort: adminPort, pki: harness.pki,
                upstreamURL: "http://127.0.0.1:9/fhir", policyDirectory: GatewayHarness.repositoryRoot + "/policies",
                auditConfig: "audit:\n  directory: audit-binary\n", eventLoops: 1)
        }

        func start() throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: AuthReplayRestartTests.binary)
            process.arguments = ["serve", "--config", configPath]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            self.process = process
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline {
                let health = try Subprocess.run(
                    "/usr/bin/curl",
                    ["-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(adminPort)/healthz"])
                if health.stdoutText == "200" { return }
                guard process.isRunning else { break }
                usleep(50_000)
            }
            throw GatewayError(status: 500, issueType: .exception, "the gateway binary did not become healthy")
        }

        /// SIGKILL: no shutdown code runs, so nothing but what was written before answering survives.
        func kill() {
            guard let process, process.isRunning else { return }
            Glibc.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }

        func tokenRequest(_ assertion: String) throws -> ClientResponse {
            let form = GatewayHarness.tokenForm(assertion: assertion, scope: "system/MedicationDispense.rs")
            let body = form.map { "\($0.0)=\(GatewayHarness.formEncode($0.1))" }.joined(separator: "&")
            return try harness.request(
                "POST", tokenURL, headers: [("Content-Type", "application/x-www-form-urlencoded")],
                body: Array(body.utf8))
        }

        deinit {
            kill()
            harness.stop()
        }
    }

    @Test("an assertion used before a SIGKILL and restart is still refused with invalid_client afterwards")
    func replayAfterRestart() throws {
        let gateway = try BinaryGateway()
        try gateway.start()
        let assertion = try gateway.harness.assertion(for: "app-1", audience: gateway.tokenURL)
        let first = try gateway.tokenRequest(assertion)
        #expect(first.status == 200, "\(first.text)")
        #expect(first.json?["access_token"]?.stringValue != nil)

        gateway.kill()
        try gateway.start()
        expectTokenError(try gateway.tokenRequest(assertion), status: 400, error: "invalid_client", "TOK-01 (d)")
        // Control: the restarted gateway issues tokens for fresh assertions.
        let fresh = try gateway.tokenRequest(try gateway.harness.assertion(for: "app-1", audience: gateway.tokenURL))
        #expect(fresh.status == 200, "\(fresh.text)")

        // A second restart (compaction at start) keeps both jtis.
        gateway.kill()
        try gateway.start()
        expectTokenError(
            try gateway.tokenRequest(assertion), status: 400, error: "invalid_client", "after two restarts")
        gateway.kill()
    }

    final class TestClock: Sendable {
        let now = Mutex(1000.0)
    }

    @Test("the jti file keeps pairs per issuer until exp, drops expired and torn lines on load, survives odd jtis")
    func fileFormat() throws {
        let path = NSTemporaryDirectory() + "jti-\(UUID().uuidString)/" + DurableReplayCache.fileName
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let clock = TestClock()
        let first = DurableReplayCache(path: path, clock: { clock.now.withLock { $0 } })
        #expect(first.claim(issuer: "app-1", jti: "a\tb\nc", expiresAt: 1100) == .fresh)
        #expect(first.claim(issuer: "app-1", jti: "short-lived", expiresAt: 1010) == .fresh)
        #expect(first.claim(issuer: "app-1", jti: "a\tb\nc", expiresAt: 1100) == .replayed)
        // A crash in the middle of a write leaves a torn last line.
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("99999\tYXBw".utf8))
        try handle.close()

        clock.now.withLock { $0 = 1050 }
        let restarted = DurableReplayCache(path: path, clock: { clock.now.withLock { $0 } })
        #expect(restarted.count == 1, "the expired pair and the torn line are dropped")
        #expect(restarted.claim(issuer: "app-1", jti: "a\tb\nc", expiresAt: 1100) == .replayed)
        #expect(restarted.claim(issuer: "app-2", jti: "a\tb\nc", expiresAt: 1100) == .fresh)
        #expect(restarted.claim(issuer: "app-1", jti: "short-lived", expiresAt: 1300) == .fresh)
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 3, "compacted at start, then two appends: \(lines)")
    }

    @Test("a jti file that cannot be written fails closed (unavailable) and recovers once it can be")
    func failsClosed() throws {
        // A path under a regular file fails with ENOTDIR, even for root.
        let base = NSTemporaryDirectory() + "jti-broken-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        _ = FileManager.default.createFile(atPath: base + "/audit", contents: Data("x".utf8))
        let cache = DurableReplayCache(path: base + "/audit/" + DurableReplayCache.fileName, clock: { 1000 })
        #expect(cache.claim(issuer: "app-1", jti: "j1", expiresAt: 1100) == .unavailable)
        try FileManager.default.removeItem(atPath: base + "/audit")
        #expect(cache.claim(issuer: "app-1", jti: "j1", expiresAt: 1100) == .fresh)
        #expect(cache.claim(issuer: "app-1", jti: "j1", expiresAt: 1100) == .replayed)
        #expect(FileManager.default.fileExists(atPath: base + "/audit/" + DurableReplayCache.fileName))
    }
}
