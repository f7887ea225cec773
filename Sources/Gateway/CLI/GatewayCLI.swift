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
        "npi", "dea", "role", "network", "jwks", "jwks-url", "content-type", "patient", "public-key",
        "request-bodies",
    ]

    /// Runs one command line and returns the exit status.
    public static func run(_ arguments: [String], output: CLIOutput = .standard) -> Int32 {
        do {
            let args = try ParsedArguments.parse(arguments, valueOptions: valueOptions)
            if args.flags.contains("help") || args.words.isEmpty {
                output.out(Usage.main + "\n")
                return args.words.isEmpty && !args.flags.contains("help") ? 2 : 0
            }
            let config = args.option("config") ?? "gateway.yaml"
            switch args.words[0] {
            case "version":
                output.out("pdmp-gateway \(GatewayVersion.string)\n")
                return 0
            case "serve":
                return serve(configPath: config, output: output)
            case "check":
                return check(configPath: config, output: output)
            default:
                return try MoreCommands.run(args, configPath: config, output: output)
            }
        } catch let error as CLIError {
            output.err("pdmp-gateway: \(error)\n\(Usage.main)\n")
            return 2
        } catch {
            output.err("pdmp-gateway: \(error)\n")
            return 1
        }
    }

    /// Validates configuration, clients, keys and policies; prints every problem as `file:line:col: ...`.
    static func check(configPath: String, output: CLIOutput) -> Int32 {
        do {
            let config = try ConfigLoader.load(path: configPath)
            var problems: [String] = []
            do {
                _ = try GatewayRuntime.makeSnapshot(config)
            } catch {
                problems.append("\(error)")
            }
            do {
                _ = try KeyStore.load(directory: config.auth.signingKeyDirectory)
            } catch {
                problems.append("\(config.auth.signingKeyDirectory): \(error)")
            }
            guard problems.isEmpty else {
                output.err(problems.joined(separator: "\n") + "\n")
                return 1
            }
            output.out("\(config.sourcePath): configuration, clients, keys and policies are valid\n")
            return 0
        } catch {
            output.err("\(error)\n")
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
            logger.critical("cannot start", metadata: ["config.path": configPath, "error.detail": "\(error)"])
            output.err("pdmp-gateway: cannot start:\n\(error)\n")
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
