// `pdmp-gateway token`: acts as a SMART Backend Services client (SPEC-DIGEST §1.5) so that operators can
// test a registration end to end: signs a `private_key_jwt` client assertion (RFC 7523), posts the
// `client_credentials` request to the token URL and prints only the access token on stdout, so that
// `TOKEN=$(pdmp-gateway token ...)` works. Refusals (RFC 6749 §5.2 error JSON) go to stderr, exit 1.

import Foundation
import GatewayCore
import GatewayCrypto
import JOSE
import SMART

enum TokenCommand {
    /// SMART 2.2 backend-services §"Scopes": a system-level scope; read and search everything by default.
    static let defaultScope = "system/*.rs"
    /// Seconds to wait for the token endpoint.
    static let timeout = 30.0

    static func run(_ args: ParsedArguments, output: CLIOutput) throws -> Int32 {
        try MoreCommands.allow(
            args, options: ["client", "key", "token-url", "scope", "kid", "alg", "cacert", "request-bodies"],
            flags: ["json"])
        guard args.words.count == 1 else { throw CLIError("unexpected argument '\(args.words[1])'") }
        guard let clientID = args.option("client"), let keyFile = args.option("key"),
              let tokenURL = args.option("token-url")
        else { throw CLIError("token needs --client ID, --key KEY.pem and --token-url URL") }
        guard let url = URL(string: tokenURL), url.scheme == "https" || url.scheme == "http", url.host != nil else {
            throw CLIError("--token-url must be an https:// (or, for tests, http://) URL, "
                + "such as https://pdmp.example.gov/auth/token")
        }
        let scopes = args.list("scope").isEmpty ? [defaultScope] : args.list("scope")
        if let count = args.option("request-bodies") {
            return try printBodies(
                count: count, clientID: clientID, keyFile: keyFile, tokenURL: tokenURL, scopes: scopes, args: args,
                output: output)
        }
        let body = try requestBody(
            clientID: clientID, keyFile: keyFile, tokenURL: tokenURL, scopes: scopes, kid: args.option("kid"),
            alg: args.option("alg"), now: Date().timeIntervalSince1970)
        let response = try TokenTransport.post(
            url: url, body: body, caFile: args.option("cacert"), timeout: timeout)
        return report(response, json: args.flags.contains("json"), output: output)
    }

    /// Most bodies `--request-bodies` prints: enough for a load-test run, bounded so a typo cannot fill a disk.
    static let maxRequestBodies = 1_000_000

    /// `--request-bodies N` (load tests, deploy/loadtest): prints N token request bodies, one per line, each
    /// with a fresh assertion (its own `jti`, `exp` 4 minutes ahead) and posts nothing. Every body is good
    /// for one token request until it expires: the token endpoint refuses a replayed `jti` (RFC 7523 §3).
    static func printBodies(
        count text: String, clientID: String, keyFile: String, tokenURL: String, scopes: [String],
        args: ParsedArguments, output: CLIOutput
    ) throws -> Int32 {
        guard let count = Int(text), (1...maxRequestBodies).contains(count) else {
            throw CLIError("--request-bodies needs a count from 1 to \(maxRequestBodies)")
        }
        guard args.option("cacert") == nil, !args.flags.contains("json") else {
            throw CLIError("--request-bodies posts nothing: --cacert and --json do not apply")
        }
        let now = Date().timeIntervalSince1970
        let key = try loadKey(keyFile)
        var chunk = ""
        for index in 0..<count {
            chunk += try requestBody(
                clientID: clientID, key: key, keyFile: keyFile, tokenURL: tokenURL, scopes: scopes,
                kid: args.option("kid"), alg: args.option("alg"), now: now) + "\n"
            if index % 256 == 255 || index == count - 1 {
                output.out(chunk)
                chunk = ""
            }
        }
        return 0
    }

    /// The form body of the token request: a fresh assertion signed with the key in `keyFile`.
    static func requestBody(
        clientID: String, keyFile: String, tokenURL: String, scopes: [String], kid: String?, alg: String?, now: Double
    ) throws -> String {
        try requestBody(
            clientID: clientID, key: try loadKey(keyFile), keyFile: keyFile, tokenURL: tokenURL, scopes: scopes,
            kid: kid, alg: alg, now: now)
    }

    /// The client's private key from a PEM file.
    static func loadKey(_ keyFile: String) throws -> PrivateKey {
        let text = try MoreCommands.readText(keyFile, what: "private key")
        do {
            return try PrivateKey(pem: text)
        } catch {
            throw CommandFailure("\(keyFile) is not a PEM private key: \(MoreCommands.describe(error))")
        }
    }

    /// The form body of a token request signed with `key` (read from `keyFile`, named in errors).
    static func requestBody(
        clientID: String, key: PrivateKey, keyFile: String, tokenURL: String, scopes: [String], kid: String?,
        alg: String?, now: Double
    ) throws -> String {
        let algorithm = try algorithm(alg, for: key.kind)
        do {
            let keyID = try kid ?? defaultKeyID(key.publicKey())
            let assertion = try ClientAssertion.make(
                clientID: clientID, tokenURL: tokenURL, key: key, kid: keyID,
                algorithm: algorithm, now: now)
            return ClientAssertion.tokenRequestBody(assertion: assertion, scopes: scopes)
        } catch {
            throw CommandFailure("cannot sign the client assertion with \(keyFile): \(MoreCommands.describe(error))")
        }
    }

    /// Prints the token (or the whole response with `--json`), or the refusal on stderr.
    static func report(_ response: TokenTransport.Response, json: Bool, output: CLIOutput) -> Int32 {
        let text = String(decoding: response.body, as: UTF8.self)
        let parsed = try? JSONValue.parse(response.body)
        if response.status == 200, let token = parsed?["access_token"]?.stringValue, !token.isEmpty {
            output.out((json ? text : token) + "\n")
            return 0
        }
        if response.status == 200 {
            output.err("pdmp-gateway: the token endpoint answered 200 without an access_token\n\(text)\n")
        } else {
            // RFC 6749 §5.2: `error` and `error_description` say why; print the JSON as received.
            let error = parsed?["error"]?.stringValue.map { ": \($0)" } ?? ""
            output.err("pdmp-gateway: token request refused (HTTP \(response.status)\(error))\n\(text)\n")
        }
        return 1
    }

    /// `--alg`, or the usual algorithm for the key: ES256/ES384/ES512 by curve, RS384 for RSA.
    static func algorithm(_ name: String?, for kind: KeyKind) throws(CLIError) -> JWSAlgorithm {
        if let name {
            guard let algorithm = JWSAlgorithm(rawValue: name) else {
                throw CLIError("unknown --alg \(name) (ES384, RS384, ES256, RS256, ...)")
            }
            return algorithm
        }
        switch kind {
        case .rsa: return .rs384
        case .ec(let curve): return .ecdsa(for: curve)
        }
    }

    /// The key id when `--kid` is not given: the RFC 7638 thumbprint of the public key, which is what
    /// `clients add --public-key` registers by default and what the demo and smart-fetch use.
    static func defaultKeyID(_ key: PublicKey) -> String {
        JWK.thumbprint(of: key)
    }
}
