// `pdmp-gateway keys generate --alg ES256|ES384|RS256|RS384 --out DIR`: a new token-signing key in the
// directory named by `auth.signing_keys` (issue #4 item 3). The newest key signs after the next reload;
// older keys keep verifying the tokens they signed, so rotation is: generate, reload, delete the old file
// after the token lifetime has passed.

import Foundation
import GatewayCore
import JOSE

enum KeysCommand {
    /// The algorithms the gateway's own tokens may use (SMART 2.2 servers support ES384 and RS384).
    static let algorithms: [JWSAlgorithm] = [.es256, .es384, .rs256, .rs384]

    static func run(_ args: ParsedArguments, output: CLIOutput) throws -> Int32 {
        _ = try MoreCommands.subcommand(args, ["generate"])
        try MoreCommands.allow(args, options: ["alg", "out"])
        guard args.words.count == 2 else { throw CLIError("unexpected argument '\(args.words[2])'") }
        let name = args.option("alg") ?? "ES256"
        guard let algorithm = JWSAlgorithm(rawValue: name), algorithms.contains(algorithm) else {
            throw CLIError("--alg must be one of \(algorithms.map(\.rawValue).joined(separator: ", "))")
        }
        guard let directory = args.option("out") else {
            throw CLIError("keys generate needs --out DIR (the config's auth.signing_keys directory)")
        }
        let kid: String
        do {
            kid = try KeyStore.generate(algorithm: algorithm, directory: directory, now: Date().timeIntervalSince1970)
        } catch {
            throw CommandFailure("cannot create a key in \(directory): \(MoreCommands.describe(error))")
        }
        let file = (directory as NSString).appendingPathComponent("\(kid).pem")
        output.out("kid: \(kid)\nfile: \(file)\nalgorithm: \(algorithm.rawValue)\n")
        output.out("The newest key signs new tokens; older keys keep verifying until their tokens expire. "
            + MoreCommands.reloadNote)
        return 0
    }
}
