// `pdmp-gateway clients list|add|remove|suspend|activate`: edits the requester registry named by the
// config's `auth.clients` (issue #4 item 2). Every change goes through the same decoder and key-set checks
// as the file itself (`ClientCommands.entry(fromJSON:)`, `ClientsFile.save`), so the CLI cannot write a
// registry the gateway would refuse to load.

import Foundation
import GatewayCore
import GatewayCrypto
import GatewayYAML
import JOSE
import SMART

enum ClientsCommand {
    static let subcommands = ["list", "add", "remove", "suspend", "activate"]

    static func run(_ args: ParsedArguments, configPath: String, output: CLIOutput) throws -> Int32 {
        let sub = try MoreCommands.subcommand(args, subcommands)
        switch sub {
        case "list":
            try MoreCommands.allow(args, flags: ["json"])
            guard args.words.count == 2 else { throw CLIError("clients list takes no arguments") }
            return try list(path: registryPath(configPath), json: args.flags.contains("json"), output: output)
        case "add":
            let options: Set<String> = [
                "name", "kind", "npi", "dea", "role", "network", "scope", "jwks", "jwks-url", "public-key", "kid",
                "alg",
            ]
            try MoreCommands.allow(args, options: options, flags: ["replace", "public-key"])
            return try add(args, path: registryPath(configPath), output: output)
        default:
            try MoreCommands.allow(args)
            guard args.words.count == 3 else { throw CLIError("clients \(sub) needs exactly one client id") }
            return try change(sub, id: args.words[2], path: registryPath(configPath), output: output)
        }
    }

    /// The registry file named by the configuration.
    static func registryPath(_ configPath: String) throws -> String {
        do {
            return try ConfigLoader.load(path: configPath).auth.clientsFile
        } catch {
            throw CommandFailure("cannot read the configuration:\n\(error)")
        }
    }

    static func load(_ path: String) throws -> [ClientEntry] {
        do {
            return try ClientsFile.load(path: path)
        } catch {
            throw CommandFailure("the registry \(path) is invalid; fix it first:\n\(error)")
        }
    }

    // MARK: list

    static func list(path: String, json: Bool, output: CLIOutput) throws -> Int32 {
        let entries = try load(path)
        if json {
            let array = JSONValue.array(entries.map(ClientCommands.summary))
            output.out(String(decoding: array.serialized(), as: UTF8.self) + "\n")
            return 0
        }
        if entries.isEmpty {
            output.out("no clients registered in \(path)\n")
            return 0
        }
        for entry in entries { output.out(line(entry) + "\n") }
        return 0
    }

    /// `id  kind  status  npis=...  keys=...`: one line per client, key ids only (never key material).
    static func line(_ entry: ClientEntry) -> String {
        let c = entry.client
        let npis = c.npis.isEmpty ? "-" : c.npis.joined(separator: ",")
        var keys = "jwks_url=" + (entry.jwksURL ?? "")
        if entry.jwksURL == nil {
            let ids = entry.jwks?["keys"]?.arrayValue?.compactMap { $0["kid"]?.stringValue } ?? []
            keys = "keys=" + (ids.isEmpty ? "-" : ids.joined(separator: ","))
        }
        return [c.id, c.kind.rawValue, c.status.rawValue, "npis=\(npis)", keys].joined(separator: "  ")
    }

    // MARK: add

    static func add(_ args: ParsedArguments, path: String, output: CLIOutput) throws -> Int32 {
        let words = Array(args.words.dropFirst(2))
        let publicKey = args.option("public-key")
        guard words.count == 1 else { throw CLIError("clients add needs exactly one client id") }
        let id = words[0]
        let sources = [args.option("jwks"), args.option("jwks-url"), publicKey].compactMap { $0 }
        guard sources.count == 1 else {
            throw CLIError("clients add needs exactly one of --jwks FILE, --jwks-url URL or --public-key PEM-FILE")
        }
        if publicKey == nil, args.option("kid") != nil || args.option("alg") != nil {
            throw CLIError("--kid and --alg apply to --public-key only")
        }
        var members: [(String, JSONValue)] = [("id", .string(id))]
        if let name = args.option("name") { members.append(("name", .string(name))) }
        members.append(("kind", .string(args.option("kind") ?? "provider")))
        for (option, key) in [("npi", "npis"), ("dea", "deas"), ("role", "roles"), ("network", "networks"),
                              ("scope", "scopes")] where !args.list(option).isEmpty {
            members.append((key, .array(args.list(option).map(JSONValue.string))))
        }
        if let url = args.option("jwks-url") {
            members.append(("jwks_url", .string(url)))
        } else if let file = args.option("jwks") {
            members.append(("jwks", try keySet(fromFile: file)))
        } else if let publicKey {
            members.append(("jwks", try keySet(pemFile: publicKey, kid: args.option("kid"), alg: args.option("alg"),
                                               output: output)))
        }
        let entry: ClientEntry
        do {
            entry = try ClientCommands.entry(fromJSON: .object(JSONObject(members)))
        } catch let error as ConfigError {
            throw CommandFailure("client \(id) refused, \(path) unchanged:\n" + registrationProblems(error))
        }
        var entries = try load(path)
        let replacing = entries.contains { $0.client.id == id }
        if replacing, !args.flags.contains("replace") {
            throw CommandFailure("client \(id) is already registered in \(path) (use --replace to overwrite it)")
        }
        entries.removeAll { $0.client.id == id }
        entries.append(entry)
        try save(entries, path: path)
        output.out("\(replacing ? "replaced" : "added") client \(id) in \(path)\n  " + line(entry) + "\n")
        output.out(MoreCommands.clientsNote)
        return 0
    }

    /// A JWK Set file; a file holding one JWK is taken as a set of that key.
    static func keySet(fromFile file: String) throws -> JSONValue {
        let text = try MoreCommands.readText(file, what: "key set")
        let json: JSONValue
        do {
            json = try JSONValue.parse(Array(text.utf8))
        } catch {
            throw CommandFailure("\(file) is not valid JSON: \(MoreCommands.describe(error))")
        }
        if json["keys"] == nil, json["kty"] != nil { return .object(JSONObject([("keys", .array([json]))])) }
        return json
    }

    /// A one-key JWK Set from a PEM public key. `kid` defaults to the RFC 7638 thumbprint; `alg` to
    /// ES256/ES384/ES512 by curve, or RS384 for RSA (SMART 2.2 servers must support ES384 and RS384).
    static func keySet(pemFile: String, kid: String?, alg: String?, output: CLIOutput) throws -> JSONValue {
        let text = try MoreCommands.readText(pemFile, what: "public key")
        let key: PublicKey
        do {
            key = try PublicKey(pem: text)
        } catch {
            // A private key file is accepted for convenience; only its public half is ever written.
            guard let privateKey = try? PrivateKey(pem: text), let derived = try? privateKey.publicKey() else {
                throw CommandFailure("\(pemFile) is not a PEM public key: \(MoreCommands.describe(error))")
            }
            output.err("note: \(pemFile) holds a private key; only its public half is registered\n")
            key = derived
        }
        let algorithm = try TokenCommand.algorithm(alg, for: key.kind)
        let keyID = kid ?? TokenCommand.defaultKeyID(key)
        let jwk = JWK.publicJSON(for: key, keyID: keyID, algorithm: algorithm)
        return .object(JSONObject([("keys", .array([jwk]))]))
    }

    /// The decoder's problems without the synthetic file position (`<registration>:1:3`).
    static func registrationProblems(_ error: ConfigError) -> String {
        error.errors.map { problem in
            var path = problem.path
            if let dot = path.firstIndex(of: "."), path.hasPrefix("clients[") {
                path = String(path[path.index(after: dot)...])
            } else if path.hasPrefix("clients[") {
                path = ""
            }
            return "  " + (path.isEmpty ? "" : "\(path): ") + problem.problem
        }.joined(separator: "\n")
    }

    static func save(_ entries: [ClientEntry], path: String) throws {
        do {
            try ClientsFile.save(entries, path: path)
        } catch {
            throw CommandFailure("cannot write \(path), unchanged: \(MoreCommands.describe(error))")
        }
    }

    // MARK: remove, suspend, activate

    static func change(_ sub: String, id: String, path: String, output: CLIOutput) throws -> Int32 {
        var entries = try load(path)
        guard let index = entries.firstIndex(where: { $0.client.id == id }) else {
            throw CommandFailure("no client \(id) in \(path)")
        }
        switch sub {
        case "remove":
            entries.remove(at: index)
            output.out("removed client \(id) from \(path)\n")
        default:
            let status: RegisteredClient.Status = sub == "suspend" ? .suspended : .active
            let before = entries[index].client.status
            entries[index].client.status = status
            output.out(before == status
                ? "client \(id) is already \(status.rawValue)\n"
                : "client \(id) is now \(status.rawValue) in \(path)\n")
        }
        try save(entries, path: path)
        output.out(MoreCommands.clientsNote)
        return 0
    }
}
