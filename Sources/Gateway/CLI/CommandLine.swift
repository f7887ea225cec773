// The `pdmp-gateway` command line (ARCHITECTURE §4, stable interface). Parsing is hand-written (no
// outside packages); every command documents itself in `--help`.

import Foundation
import GatewayCore

/// A parsed invocation: positional words plus `--name value` options and `--flag`s.
public struct ParsedArguments: Sendable {
    public var words: [String] = []
    public var options: [String: [String]] = [:]
    public var flags: Set<String> = []

    /// The last value of an option.
    public func option(_ name: String) -> String? { options[name]?.last }

    /// Splits arguments. `valueOptions` names the options that take a value; any other `--x` is a flag.
    public static func parse(_ arguments: [String], valueOptions: Set<String>) throws(CLIError) -> ParsedArguments {
        var parsed = ParsedArguments()
        var i = 0
        while i < arguments.count {
            let arg = arguments[i]
            if arg.hasPrefix("--") {
                var name = String(arg.dropFirst(2))
                var inlineValue: String?
                if let eq = name.firstIndex(of: "=") {
                    inlineValue = String(name[name.index(after: eq)...])
                    name = String(name[..<eq])
                }
                if valueOptions.contains(name) {
                    if let inlineValue {
                        parsed.options[name, default: []].append(inlineValue)
                    } else {
                        guard i + 1 < arguments.count else { throw CLIError("option --\(name) needs a value") }
                        parsed.options[name, default: []].append(arguments[i + 1])
                        i += 1
                    }
                } else {
                    guard inlineValue == nil else { throw CLIError("option --\(name) takes no value") }
                    parsed.flags.insert(name)
                }
            } else {
                parsed.words.append(arg)
            }
            i += 1
        }
        return parsed
    }
}

/// A usage error: printed with the usage text, exit status 2.
public struct CLIError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}

/// Output streams, injectable for tests.
public struct CLIOutput: Sendable {
    public var out: @Sendable (String) -> Void
    public var err: @Sendable (String) -> Void

    public init(out: @escaping @Sendable (String) -> Void, err: @escaping @Sendable (String) -> Void) {
        self.out = out
        self.err = err
    }

    public static let standard = CLIOutput(
        out: { text in FileHandle.standardOutput.write(Data(text.utf8)) },
        err: { text in FileHandle.standardError.write(Data(text.utf8)) })
}

public enum GatewayVersion {
    public static let string = "0.1.0"
}
