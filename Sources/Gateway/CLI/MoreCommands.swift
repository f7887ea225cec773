// The operator and author commands other than serve/check.

import Foundation
import GatewayCore

enum MoreCommands {
    static func run(_ args: ParsedArguments, configPath: String, output: CLIOutput) throws -> Int32 {
        throw CLIError("unknown command '\(args.words.joined(separator: " "))'")
    }
}
