// `pdmp-gateway` subcommands. Exit status: 0 success, 1 a check or test failed, 2 usage error.

import Audit
import Dispatch
import Foundation
import GatewayCore
import GatewayCrypto
import JOSE
import Policy
import SMART
import Synchronization

public enum GatewayCLI {
    static let valueOptions: Set<String> = [
        "config", "client", "scope", "body", "alg", "out", "key", "token-url", "kid", "cacert", "name", "kind",
        "npi", "dea", "role", "network", "jwks", "jwks-url", "content-type", "patient", "public-key", "policies",
        "clients", "records", "producers", "dir", "request-bodies",
    ]

    /// Runs one command line and returns the exit status.
    public static func run(_ arguments: [String], output: CLIOutput = .standard) -> Int32 {
        // `-h` is `--help` everywhere (the only short option).
        let arguments = arguments.map { $0 == "-h" ? "--help" : $0 }
        var words: [String] = []
        do {
            let args = try ParsedArguments.parse(arguments, valueOptions: valueOptions)
            words = args.words
            if args.flags.contains("help") {
                output.out(Usage.text(for: args.words) + "\n")
                return 0
            }
            if args.words.isEmpty {
                output.err(Usage.main + "\n")
                return 2
            }
            let config = args.option("config") ?? "gateway.yaml"
            switch args.words[0] {
            case "version":
                try MoreCommands.allow(args)
                output.out("pdmp-gateway \(GatewayVersion.string)\n")
                return 0
            case "serve":
                try MoreCommands.allow(args)
                guard args.words.count == 1 else { throw CLIError("unexpected argument '\(args.words[1])'") }
                return serve(configPath: config, output: output)
            case "check":
                try MoreCommands.allow(args)
                guard args.words.count == 1 else { throw CLIError("unexpected argument '\(args.words[1])'") }
                return check(configPath: config, output: output)
            default:
                return try MoreCommands.run(args, configPath: config, output: output)
            }
        } catch let error as CLIError {
            // A usage error: the message, then the usage of the command that was meant (exit 2).
            output.err("pdmp-gateway: \(error)\n\n\(Usage.text(for: words))\n")
            return 2
        } catch {
            // The command could not do its work: one readable message, no internal status decoration.
            output.err("pdmp-gateway: \(MoreCommands.describe(error))\n")
            return 1
        }
    }

    /// Loads and validates everything `serve` loads (configuration, policies, client registry, signing
    /// keys, audit key, TLS certificate and key, upstream CA, external issuers) through the same path
    /// (`GatewayPreflight`), without binding ports. Prints every problem; warnings do not fail the check.
    static func check(configPath: String, output: CLIOutput) -> Int32 {
        do {
            let loaded = try GatewayPreflight.load(configPath: configPath, createMissing: false)
            for warning in loaded.warnings { output.err("warning: \(warning)\n") }
            output.out("\(loaded.config.sourcePath): configuration, clients, keys, certificates and policies are valid\n")
            return 0
        } catch {
            for warning in error.warnings { output.err("warning: \(warning)\n") }
            output.err(error.problems.joined(separator: "\n") + "\n")
            let count = error.problems.count
            output.err("pdmp-gateway: check failed: \(count) problem group\(count == 1 ? "" : "s")\n")
            return 1
        }
    }

    /// Runs the gateway until SIGTERM or SIGINT (drain, exit 0); SIGHUP reloads.
    static func serve(configPath: String, output: CLIOutput) -> Int32 {
        var logger = Logger(label: "pdmp-gateway")
        if let config = try? ConfigLoader.load(path: configPath) { logger.level = config.logging.level }
        let runtime: GatewayRuntime
        do {
            runtime = try GatewayRuntime(configPath: configPath, logger: logger)
        } catch {
            let text = (error as? StartupProblems)?.description ?? MoreCommands.describe(error)
            logger.critical("cannot start", metadata: ["config.path": configPath, "error.detail": text])
            output.err("pdmp-gateway: cannot start:\n\(text)\n")
            return 1
        }
        let done = DispatchSemaphore(value: 0)
        let signals = SignalHandlers()
        signals.on(SIGHUP) { runtime.reload() }
        for signal in [SIGTERM, SIGINT] {
            signals.on(signal) {
                runtime.drain()
                done.signal()
            }
        }
        done.wait()
        return 0
    }
}

extension Logger {
    fileprivate func critical(_ message: String, metadata: LogMetadata) {
        log(.critical, message, metadata: metadata)
    }
}

/// Signal handling off the event loops (DispatchSource on its own queue; not on the request path).
final class SignalHandlers {
    private let queue = DispatchQueue(label: "pdmp-gateway.signals")
    // Kept alive for the life of the process; only touched by the thread that installs handlers.
    private var sources: [any DispatchSourceSignal] = []

    func on(_ number: Int32, _ action: @escaping @Sendable () -> Void) {
        signal(number, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
        source.setEventHandler(handler: action)
        source.resume()
        sources.append(source)
    }
}
