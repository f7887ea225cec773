import Foundation
import Synchronization
import Testing
@testable import Gateway

/// One captured `pdmp-gateway` invocation.
struct CLIRun {
    var status: Int32
    var out: String
    var err: String
}

/// Runs the CLI in-process with captured output.
func runCLI(_ arguments: [String]) -> CLIRun {
    let out = Mutex("")
    let err = Mutex("")
    let output = CLIOutput(
        out: { text in out.withLock { $0 += text } },
        err: { text in err.withLock { $0 += text } })
    let status = GatewayCLI.run(arguments, output: output)
    return CLIRun(status: status, out: out.withLock { $0 }, err: err.withLock { $0 })
}

/// A temporary directory removed when the value goes away.
final class TemporaryDirectory {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "/pdmp-cli-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let target = file(name)
        try FileManager.default.createDirectory(
            atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: target, atomically: true, encoding: .utf8)
        return target
    }

    func read(_ name: String) -> String? { try? String(contentsOfFile: file(name), encoding: .utf8) }

    /// A minimal valid gateway.yaml (plaintext on loopback) naming `clients.yaml` and `policies/` here.
    @discardableResult
    func writeGatewayConfig() throws -> String {
        try write("gateway.yaml", """
            listen:
              address: 127.0.0.1
              port: 18443
              plaintext_for_testing: true
            upstream:
              url: http://127.0.0.1:18090/fhir
            auth:
              signing_keys: keys
              clients: clients.yaml
            policies: policies
            audit:
              directory: audit

            """)
    }
}

@Suite("pdmp-gateway command dispatch")
struct CLIDispatchTests {
    @Test("an unknown command is a usage error (exit 2) with the usage text")
    func unknownCommand() {
        let run = runCLI(["frobnicate"])
        #expect(run.status == 2)
        #expect(run.err.contains("unknown command 'frobnicate'"))
        #expect(run.err.contains("Usage: pdmp-gateway COMMAND"))
    }

    @Test("an unknown sub-command names the ones that exist")
    func unknownSubcommand() {
        let run = runCLI(["clients", "rename", "x"])
        #expect(run.status == 2)
        #expect(run.err.contains("clients list|add|remove|suspend|activate"))
    }

    @Test("an option a command does not take is refused, not ignored")
    func strayOption() {
        let run = runCLI(["audit", "verify", "--scope", "system/*.rs", "/nonexistent"])
        #expect(run.status == 2)
        #expect(run.err.contains("--scope"))
        let flag = runCLI(["keys", "generate", "--out", "/tmp/x", "--force"])
        #expect(flag.status == 2)
        #expect(flag.err.contains("--force"))
    }

    @Test("a missing required option is a usage error")
    func missingOption() {
        let run = runCLI(["token", "--client", "c1"])
        #expect(run.status == 2)
        #expect(run.err.contains("--key"))
    }
}
