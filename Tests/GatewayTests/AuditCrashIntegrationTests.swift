// kill -9 durability (issue #7 "Bad input and faults"): the real `pdmp-gateway serve` binary under a load
// of allowed and denied requests is SIGKILLed mid-load and restarted; the chain then verifies (a torn last
// line is sealed, not dropped) and every request id the client got an answer for has its record.

import Audit
import Foundation
import GatewayCore
import GatewayTesting
import Testing

/// The real gateway binary as a child process.
final class GatewayProcess: @unchecked Sendable {
    // Safe: `process` is only touched by the test thread that owns this object.
    static var binary: String { GatewayHarness.repositoryRoot + "/.build/debug/pdmp-gateway" }

    let configPath: String
    let port: Int
    let logPath: String
    private var process: Process?

    init(configPath: String, port: Int) {
        self.configPath = configPath
        self.port = port
        self.logPath = configPath + ".log"
    }

    var pid: Int32 { process?.processIdentifier ?? 0 }

    /// Starts `pdmp-gateway serve --config` and waits until it answers its discovery document.
    func start(caFile: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["serve", "--config", configPath]
        if !FileManager.default.fileExists(atPath: logPath) {
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        try process.run()
        self.process = process
        for _ in 0..<200 {
            let probe = try Subprocess.run(
                "/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2", "--cacert", caFile,
                                  "https://127.0.0.1:\(port)/.well-known/smart-configuration"])
            if probe.stdoutText == "200" { return }
            guard process.isRunning else { break }
            usleep(100_000)
        }
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        throw GatewayError(status: 500, issueType: .exception, "gateway binary did not become ready: \(text)")
    }

    func kill(_ signal: Int32) {
        guard let process, process.isRunning else { return }
        Foundation.kill(process.processIdentifier, signal)
        process.waitUntilExit()
    }
}

@Suite("Audit durability across kill -9 of the real binary", .serialized)
struct AuditCrashIntegrationTests {
    static let scopes = ["system/MedicationDispense.rs", "system/Patient.rs"]

    @Test("SIGKILL mid-load, restart: the chain verifies and holds every answered request id")
    func killDuringLoad() throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: GatewayProcess.binary),
            "build the binary first: swift build --build-tests")
        // The harness provides the PKI, signing keys, clients.yaml and the recording upstream; the binary gets
        // its own port and audit directory next to them.
        let harness = try GatewayHarness(clients: [.init(id: "crash-app", scopes: Self.scopes, npis: ["1234567893"])])
        defer { harness.stop() }
        let port = try GatewayHarness.freePort()
        let configPath = harness.directory + "/crash.yaml"
        try GatewayHarness.writeConfig(
            to: configPath, port: port, adminPort: 0, pki: harness.pki, upstreamURL: harness.recorder!.baseURL,
            policyDirectory: GatewayHarness.repositoryRoot + "/policies",
            auditConfig: "audit:\n  directory: audit-crash\n", logLevel: "warning")
        let auditDirectory = harness.directory + "/audit-crash"
        let gateway = GatewayProcess(configPath: configPath, port: port)
        defer { gateway.kill(SIGKILL) }
        try gateway.start(caFile: harness.pki.caCertificate)

        let base = "https://127.0.0.1:\(port)"
        let token = try accessToken(harness, base: base)
        let answered = LockedList()
        let sent = LockedCounter()
        let workers = (0..<3).map { worker in
            Thread {
                for n in 0..<40 {
                    let allowed = !n.isMultiple(of: 2)
                    let path = allowed
                        ? "/fhir/MedicationDispense?patient=pt-\(worker)-\(n)" : "/fhir/MedicationDispense"
                    let id = "crash-\(worker)-\(n)-" + RandomID.hex128()
                    sent.increment()
                    if let response = try? harness.request(
                        "GET", base + path, headers: [("X-Request-ID", id)], bearer: token,
                        extraCurlArguments: ["--max-time", "5"]),
                        response.status != 0
                    {
                        answered.append(id + " \(response.status)")
                    }
                }
                answered.finish()
            }
        }
        workers.forEach { $0.start() }
        // Kill once a good part of the load has been answered, while the rest is still in flight.
        while answered.items.count < 30 { usleep(20_000) }
        gateway.kill(SIGKILL)
        answered.wait(for: workers.count)
        let answers = answered.items
        #expect(answers.count >= 30)
        #expect(answers.count < sent.value, "the kill should have cut the load short")

        // Restart on the same audit directory: the chain resumes (a torn tail is sealed and reported).
        try gateway.start(caFile: harness.pki.caCertificate)
        let afterID = "after-restart-" + RandomID.hex128()
        let after = try harness.request(
            "GET", base + "/fhir/MedicationDispense?patient=pt-after", headers: [("X-Request-ID", afterID)],
            bearer: accessToken(harness, base: base))
        #expect(after.status == 200)
        gateway.kill(SIGTERM)

        let report = AuditChainVerifier.verify(directory: auditDirectory)
        #expect(report.isValid, "\(report)")
        let counts = try AuditChain(directory: auditDirectory).requestIDCounts()
        let missing = answers.map { String($0.split(separator: " ")[0]) }.filter { counts[$0] == nil }
        #expect(missing == [], "answered but not audited")
        #expect(counts[afterID] == 1)
        // Statuses are the policy's: allowed 200, population query 403.
        for line in answers {
            let parts = line.split(separator: " ")
            let worker = parts[0].split(separator: "-")
            let n = Int(worker[2]) ?? 0
            #expect(parts[1] == (n.isMultiple(of: 2) ? "403" : "200"), "\(line)")
        }
    }

    /// A token from the binary's own token endpoint (its issuer differs from the in-process harness's).
    func accessToken(_ harness: GatewayHarness, base: String) throws -> String {
        let form = "grant_type=client_credentials&scope=system%2FMedicationDispense.rs"
            + "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
            + "&client_assertion=" + (try harness.assertion(for: "crash-app", audience: base + "/auth/token"))
        let response = try harness.request(
            "POST", base + "/auth/token", headers: [("Content-Type", "application/x-www-form-urlencoded")],
            body: Array(form.utf8))
        return try #require(response.json?["access_token"]?.stringValue, "token endpoint said: \(response.text)")
    }
}

/// A counter shared by threads.
final class LockedCounter: @unchecked Sendable {
    // Safe: every access holds `lock`.
    private let lock = NSLock()
    private var count = 0

    func increment() {
        lock.lock()
        count += 1
        lock.unlock()
    }

    var value: Int {
        lock.lock()
        defer { lock.unlock() }
        return count
    }
}
