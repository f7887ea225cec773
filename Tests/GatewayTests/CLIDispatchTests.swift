import Foundation
import GatewayTesting
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

@Suite("pdmp-gateway per-command help (the real binary)")
struct CLIHelpTests {
    static var binary: String { GatewayHarness.repositoryRoot + "/.build/debug/pdmp-gateway" }

    /// Each command, the usage line its help starts with, and options its help must list.
    static let commands: [(words: [String], usage: String, options: [String])] = [
        (["serve"], "Usage: pdmp-gateway serve", ["--config"]),
        (["check"], "Usage: pdmp-gateway check", ["--config"]),
        (["version"], "Usage: pdmp-gateway version", []),
        (["policy", "test"], "Usage: pdmp-gateway policy test", ["--config", "--policies"]),
        (["policy", "check"], "Usage: pdmp-gateway policy check", ["--config", "--policies"]),
        (["policy", "explain"], "Usage: pdmp-gateway policy explain",
         ["--client", "--scope", "--patient", "--body", "--content-type", "--clients", "--policies"]),
        (["clients"], "Usage: pdmp-gateway clients", ["list", "add", "suspend", "--config"]),
        (["clients", "add"], "Usage: pdmp-gateway clients add",
         ["--name", "--kind", "--npi", "--dea", "--role", "--network", "--scope", "--jwks", "--jwks-url",
          "--public-key", "--kid", "--alg", "--replace"]),
        (["keys", "generate"], "Usage: pdmp-gateway keys generate", ["--out", "--alg"]),
        (["token"], "Usage: pdmp-gateway token",
         ["--client", "--key", "--token-url", "--scope", "--kid", "--alg", "--cacert", "--json"]),
        (["audit", "verify"], "Usage: pdmp-gateway audit verify", []),
        (["audit", "bench"], "Usage: pdmp-gateway audit bench", ["--records", "--producers", "--dir", "--keep"]),
    ]

    @Test("COMMAND --help and -h print that command's usage with its options, exit 0")
    func perCommand() throws {
        var texts: Set<String> = []
        for command in Self.commands {
            for flag in ["--help", "-h"] {
                let result = try Subprocess.run(Self.binary, command.words + [flag])
                #expect(result.status == 0, "\(command.words) \(flag)")
                #expect(result.stdoutText.hasPrefix(command.usage), "\(command.words) \(flag): \(result.stdoutText)")
                for option in command.options {
                    #expect(result.stdoutText.contains(option), "\(command.words) help lacks \(option)")
                }
                texts.insert(result.stdoutText)
            }
        }
        #expect(texts.count == Self.commands.count)
    }

    @Test("--help and -h alone print the overview, exit 0; no command is a usage error, exit 2")
    func overview() throws {
        for flag in ["--help", "-h"] {
            let result = try Subprocess.run(Self.binary, [flag])
            #expect(result.status == 0)
            #expect(result.stdoutText.contains("Usage: pdmp-gateway COMMAND"))
        }
        let none = try Subprocess.run(Self.binary, [])
        #expect(none.status == 2)
        #expect(none.stderr.contains("Usage: pdmp-gateway COMMAND"))
    }

    @Test("a usage error prints the message and that command's usage, exit 2")
    func usageError() throws {
        let result = try Subprocess.run(Self.binary, ["keys", "generate"])
        #expect(result.status == 2)
        #expect(result.stderr.hasPrefix("pdmp-gateway: keys generate needs --out DIR"))
        #expect(result.stderr.contains("Usage: pdmp-gateway keys generate"))
    }

    @Test("a command that fails reads `pdmp-gateway: message`, exit 1, no internal status prefix")
    func failureMessage() throws {
        let directory = NSTemporaryDirectory() + "pdmp-cli-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "x".write(toFile: directory + "/file", atomically: true, encoding: .utf8)
        // The output directory is a file: the key cannot be written.
        let result = try Subprocess.run(Self.binary, ["keys", "generate", "--out", directory + "/file"])
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("pdmp-gateway: "), "\(result.stderr)")
        #expect(!result.stderr.contains("500"), "\(result.stderr)")
        #expect(!result.stderr.contains("exception"), "\(result.stderr)")
    }
}
