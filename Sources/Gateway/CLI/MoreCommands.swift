// The operator and author commands other than serve/check (ARCHITECTURE §4): `keys`, `clients`, `token`,
// `audit` and `policy`. Exit status: 0 success, 1 a check or test failed (or the work could not be done),
// 2 usage error (thrown as `CLIError`; `GatewayCLI.run` prints the usage text).

import Foundation
import GatewayCore
import GatewayYAML

enum MoreCommands {
    static func run(_ args: ParsedArguments, configPath: String, output: CLIOutput) throws -> Int32 {
        switch args.words[0] {
        case "keys": return try KeysCommand.run(args, output: output)
        case "clients": return try ClientsCommand.run(args, configPath: configPath, output: output)
        case "token": return try TokenCommand.run(args, output: output)
        case "audit": return try AuditCommand.run(args, output: output)
        case "policy": return try PolicyCommand.run(args, configPath: configPath, output: output)
        default: throw CLIError("unknown command '\(args.words[0])'")
        }
    }

    /// The sub-command word (`keys generate`: `generate`), checked against `known`.
    static func subcommand(_ args: ParsedArguments, _ known: [String]) throws(CLIError) -> String {
        let usage = "\(args.words[0]) \(known.joined(separator: "|"))"
        guard args.words.count >= 2 else { throw CLIError("'\(args.words[0])' needs a sub-command: \(usage)") }
        guard known.contains(args.words[1]) else {
            throw CLIError("unknown sub-command '\(args.words[1])' (expected \(usage))")
        }
        return args.words[1]
    }

    /// Refuses options and flags the command does not take (a misspelt option must not be ignored).
    static func allow(_ args: ParsedArguments, options: Set<String> = [], flags: Set<String> = []) throws(CLIError) {
        for name in args.options.keys.sorted() where !options.contains(name) && name != "config" {
            throw CLIError("option --\(name) does not apply to '\(args.words.prefix(2).joined(separator: " "))'")
        }
        for name in args.flags.sorted() where !flags.contains(name) {
            throw CLIError("unknown option --\(name) for '\(args.words.prefix(2).joined(separator: " "))'")
        }
    }

    /// An error as an operator should read it: the message without HTTP status decoration.
    static func describe(_ error: any Error) -> String {
        switch error {
        case let error as GatewayError: error.publicMessage
        case let error as ConfigError: error.errors.map(\.description).joined(separator: "\n")
        case let error as CocoaError: error.localizedDescription
        default: "\(error)"
        }
    }

    /// The text of a file, or a readable error.
    static func readText(_ path: String, what: String) throws(CommandFailure) -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CommandFailure("cannot read \(what) \(path)")
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// The note every registry or key change prints: the running gateway reads files at start and reload only.
    static let reloadNote = "A running gateway applies this on its next reload (SIGHUP, or POST /admin/reload).\n"
    /// Registry edits: gateways watch the clients file, so no reload is needed.
    static let clientsNote = "Running gateways that read this file apply it within about a second (they watch it); no reload is needed.\n"
}

/// A command that could not do its work (exit status 1): printed as `pdmp-gateway: message`.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

extension ParsedArguments {
    /// Every value of a repeatable option, each also split at spaces and commas (`--scope "a b"`).
    func list(_ name: String) -> [String] {
        (options[name] ?? []).flatMap { $0.split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init) }
    }
}
