// The gateway as an operator runs it: the real binary, signals, reload and drain (issue #2 item 8).

import Foundation
import GatewayCore
import GatewayTesting
import Testing

@Suite("Lifecycle of the pdmp-gateway process", .serialized)
struct LifecycleTests {
    static var binary: String { GatewayHarness.repositoryRoot + "/.build/debug/pdmp-gateway" }

    /// A configuration directory for the binary: certificates, a key, the sample policies, a recorder.
    final class Deployment: @unchecked Sendable {
        // Safe: immutable after init; the recorder is thread-safe.
        let pki: TestPKI
        let recorder: UpstreamRecorder
        let directory: String
        let port: Int
        let adminPort: Int

        init() throws {
            pki = try TestPKI.make()
            recorder = try UpstreamRecorder(repositoryRoot: GatewayHarness.repositoryRoot)
            directory = pki.directory + "/deploy"
            port = try GatewayHarness.freePort()
            adminPort = try GatewayHarness.freePort()
            try FileManager.default.createDirectory(atPath: directory + "/policies", withIntermediateDirectories: true)
            for name in try FileManager.default.contentsOfDirectory(atPath: GatewayHarness.repositoryRoot + "/policies")
            where name.hasSuffix(".yaml") {
                try FileManager.default.copyItem(
                    atPath: GatewayHarness.repositoryRoot + "/policies/" + name, toPath: directory + "/policies/" + name)
            }
            let keys = try Subprocess.run(LifecycleTests.binary, ["keys", "generate", "--alg", "ES256", "--out", directory + "/keys"])
            #expect(keys.status == 0)
            try """
                listen:
                  address: 127.0.0.1
                  port: \(port)
                  tls: {certificate: \(pki.serverCertificate), private_key: \(pki.serverKey)}
                admin: {address: 127.0.0.1, port: \(adminPort)}
                upstream: {url: \(recorder.baseURL), response_timeout: 10s}
                auth: {signing_keys: keys, clients: clients.yaml}
                policies: policies
                audit: {directory: audit}
                event_loops: 1
                logging: {level: info}
                """.write(toFile: directory + "/gateway.yaml", atomically: true, encoding: .utf8)
        }

        func start() throws -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: LifecycleTests.binary)
            process.arguments = ["serve", "--config", directory + "/gateway.yaml"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try process.run()
            for _ in 0..<300 {
                let health = try Subprocess.run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}",
                                                                  "http://127.0.0.1:\(adminPort)/healthz"])
                if health.stdoutText == "200" { return process }
                usleep(50_000)
            }
            process.terminate()
            throw GatewayError(status: 500, issueType: .exception, "gateway did not become healthy")
        }

        func curl(_ path: String, _ extra: [String] = []) throws -> String {
            try Subprocess.run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", pki.caCertificate]
                + extra + ["https://127.0.0.1:\(port)\(path)"]).stdoutText
        }

        deinit {
            recorder.stop()
            pki.remove()
        }
    }

    @Test("check exits 1 with file:line for a broken policy, 0 for a good deployment")
    func check() throws {
        let deployment = try Deployment()
        let good = try Subprocess.run(Self.binary, ["check", "--config", deployment.directory + "/gateway.yaml"])
        #expect(good.status == 0)
        try "rules:\n  - name: x\n    effect: allow\n".write(
            toFile: deployment.directory + "/policies/zz-broken.yaml", atomically: true, encoding: .utf8)
        let bad = try Subprocess.run(Self.binary, ["check", "--config", deployment.directory + "/gateway.yaml"])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("zz-broken.yaml:3:"))
    }

    @Test("SIGHUP with a broken policy keeps serving on the old set; SIGTERM lets an in-flight request finish, exit 0")
    func reloadAndDrain() throws {
        let deployment = try Deployment()
        let process = try deployment.start()
        #expect(try deployment.curl("/.well-known/smart-configuration") == "200")

        try "rules: [".write(toFile: deployment.directory + "/policies/zz-broken.yaml", atomically: true, encoding: .utf8)
        kill(process.processIdentifier, SIGHUP)
        usleep(300_000)
        #expect(process.isRunning)
        #expect(try deployment.curl("/.well-known/smart-configuration") == "200")
        let metrics = try Subprocess.run("/usr/bin/curl", ["-s", "http://127.0.0.1:\(deployment.adminPort)/metrics"])
        #expect(metrics.stdoutText.contains("gateway_reload_failures_total 1"))

        // An in-flight request (the upstream takes 1.5 s) survives SIGTERM.
        try deployment.recorder.respond(["method": "GET", "prefix": "/fhir/metadata", "delayMs": 1500,
                                         "headers": ["Content-Type": "application/fhir+json"],
                                         "body": ["resourceType": "CapabilityStatement", "rest": [["mode": "server"]]]])
        let result = LockedResult()
        let requester = Thread { result.set((try? deployment.curl("/fhir/metadata")) ?? "error") }
        requester.start()
        usleep(500_000)
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        while result.value == nil { usleep(10_000) }
        #expect(result.value == "200")
        #expect(process.terminationStatus == 0)
    }
}

final class LockedResult: @unchecked Sendable {
    // Safe: guarded by `lock`.
    private let lock = NSLock()
    private var stored: String?
    func set(_ value: String) { lock.lock(); stored = value; lock.unlock() }
    var value: String? { lock.lock(); defer { lock.unlock() }; return stored }
}
