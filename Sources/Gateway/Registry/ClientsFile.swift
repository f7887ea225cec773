// The requester registry file `clients.yaml` (ARCHITECTURE §4): one entry per requester with its
// identifiers, roles, allowed scopes, status and public keys (inline `jwks` or a `jwks_url`). Read at
// start-up and reload; written back by `pdmp-gateway clients ...` and `POST /admin/clients`.
//
// Every key set is validated before a file is accepted or written (SMART 2.2 §"Registering a client":
// every JWK has `kty` and `kid`; only public members).

import Foundation
public import GatewayCore
import GatewayYAML
import JOSE
public import SMART

/// One requester as written in the file.
public struct ClientEntry: Sendable {
    public var client: RegisteredClient
    /// The inline JWK Set (public keys), or nil when `jwksURL` is used.
    public var jwks: JSONValue?
    public var jwksURL: String?

    public init(client: RegisteredClient, jwks: JSONValue?, jwksURL: String?) {
        self.client = client
        self.jwks = jwks
        self.jwksURL = jwksURL
    }
}

public enum ClientsFile {
    static let keys = ["id", "name", "kind", "status", "npis", "deas", "roles", "networks", "scopes", "jwks", "jwks_url"]

    /// Reads and validates the file; a missing file is an empty registry (clients are added later).
    public static func load(path: String) throws(ConfigError) -> [ClientEntry] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        let root: YAMLNode
        do {
            root = try YAMLParser.parse(contentsOfFile: path)
        } catch {
            throw ConfigError([error])
        }
        return try decode(root)
    }

    static func decode(_ root: YAMLNode) throws(ConfigError) -> [ClientEntry] {
        if root.isNull { return [] }
        var errors = root.unknownKeys(allowed: ["clients"])
        var entries: [ClientEntry] = []
        var seen: Set<String> = []
        do {
            for item in try root.optional("clients")?.sequence() ?? [] {
                errors += item.unknownKeys(allowed: keys)
                do {
                    let entry = try decodeEntry(item)
                    if !seen.insert(entry.client.id).inserted {
                        errors.append(YAMLDecodingError(at: item, "duplicate client id '\(entry.client.id)'"))
                    }
                    entries.append(entry)
                } catch {
                    errors.append(error)
                }
            }
        } catch {
            errors.append(error)
        }
        guard errors.isEmpty else { throw ConfigError(errors) }
        return entries
    }

    static func decodeEntry(_ item: YAMLNode) throws(YAMLDecodingError) -> ClientEntry {
        let id = try item.string(at: "id")
        guard !id.isEmpty, id.utf8.count <= 128, id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) })
        else { throw YAMLDecodingError(at: item["id"]!, "client ids use letters, digits, '-', '_' and '.'") }
        let kindText = try item.optionalString(at: "kind") ?? "organization"
        guard let kind = RegisteredClient.Kind(rawValue: kindText) else {
            throw YAMLDecodingError(at: item["kind"]!, "kind must be 'provider' or 'organization'")
        }
        let statusText = try item.optionalString(at: "status") ?? "active"
        guard let status = RegisteredClient.Status(rawValue: statusText) else {
            throw YAMLDecodingError(at: item["status"]!, "status must be 'active' or 'suspended'")
        }
        let client = RegisteredClient(
            id: id, name: try item.optionalString(at: "name") ?? id, kind: kind,
            npis: try item.optionalStringList(at: "npis") ?? [], deas: try item.optionalStringList(at: "deas") ?? [],
            roles: try item.optionalStringList(at: "roles") ?? [], networks: try item.optionalStringList(at: "networks") ?? [],
            allowedScopes: try item.optionalStringList(at: "scopes") ?? [], status: status)
        let jwksNode = try item.optional("jwks")
        let url = try item.optionalString(at: "jwks_url")
        guard (jwksNode == nil) != (url == nil) else {
            throw YAMLDecodingError(at: item, "give exactly one of 'jwks' or 'jwks_url'")
        }
        if let url {
            guard url.hasPrefix("https://") else {
                throw YAMLDecodingError(at: item["jwks_url"]!, "jwks_url must be https (SMART 2.2 client registration)")
            }
            return ClientEntry(client: client, jwks: nil, jwksURL: url)
        }
        let jwks = json(from: jwksNode!)
        if let problem = validateKeySet(jwks) { throw YAMLDecodingError(at: jwksNode!, problem) }
        return ClientEntry(client: client, jwks: jwks, jwksURL: nil)
    }

    /// A problem with a public JWK Set, or nil when every key is usable.
    public static func validateKeySet(_ jwks: JSONValue) -> String? {
        do {
            let set = try JWKSet.parse(jwks.serialized(), strict: true)
            if set.keys.isEmpty { return "the key set has no keys" }
            for key in set.keys where key.keyID == nil { return "every key needs a 'kid'" }
            if case .array(let keys)? = jwks["keys"] {
                for key in keys where key["d"] != nil || key["p"] != nil {
                    return "the key set contains private key material"
                }
            }
            return nil
        } catch {
            return "invalid key set: \(error)"
        }
    }

    /// A YAML tree as JSON (scalars become strings: JWK members are all strings).
    static func json(from node: YAMLNode) -> JSONValue {
        switch node.value {
        case .scalar(let text, _): return .string(text)
        case .sequence(let items): return .array(items.map(json(from:)))
        case .mapping(let entries):
            return .object(JSONObject(entries.map { ($0.key.scalarText ?? "", json(from: $0.value)) }))
        }
    }

    static func yaml(from json: JSONValue) -> YAMLNode {
        switch json {
        case .object(let object): return .mapping(object.members.map { ($0.key, yaml(from: $0.value)) })
        case .array(let items): return .sequence(items.map(yaml(from:)))
        case .string(let s): return .string(s)
        case .number(let n): return .string(n)
        case .bool(let b): return .bool(b)
        case .null: return .string("")
        }
    }

    /// The file text for `entries`.
    public static func render(_ entries: [ClientEntry]) -> String {
        let items: [YAMLNode] = entries.map { entry in
            let c = entry.client
            var fields: [(String, YAMLNode)] = [
                ("id", .string(c.id)), ("name", .string(c.name)), ("kind", .string(c.kind.rawValue)),
                ("status", .string(c.status.rawValue)),
            ]
            for (key, list) in [("npis", c.npis), ("deas", c.deas), ("roles", c.roles), ("networks", c.networks),
                                ("scopes", c.allowedScopes)] where !list.isEmpty {
                fields.append((key, .sequence(list.map(YAMLNode.string))))
            }
            if let url = entry.jwksURL { fields.append(("jwks_url", .string(url))) }
            if let jwks = entry.jwks { fields.append(("jwks", yaml(from: jwks))) }
            return .mapping(fields)
        }
        return YAMLEmitter.emit(
            .mapping([("clients", .sequence(items))]),
            header: ["PDMP requesters registered with this gateway.", "Edit with `pdmp-gateway clients ...`; see docs/operations.md."])
    }

    /// Writes the file atomically (temporary file, then rename), readable by the owner only.
    public static func save(_ entries: [ClientEntry], path: String) throws {
        let text = render(entries)
        // The rendered text must read back to the same entries before it replaces the file.
        _ = try decode(YAMLParser.parse(text, file: path))
        let temporary = path + ".tmp-\(getpid())"
        guard FileManager.default.createFile(
            atPath: temporary, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
        else { throw GatewayError(status: 500, issueType: .exception, "cannot write \(temporary)") }
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw GatewayError(status: 500, issueType: .exception, "cannot replace \(path)")
        }
    }

    /// The registry snapshot the authorization server and validator use.
    public static func registry(_ entries: [ClientEntry]) -> ClientRegistry {
        ClientRegistry(entries.compactMap { entry in
            if let url = entry.jwksURL { return ClientRecord(client: entry.client, keys: .url(url)) }
            guard let jwks = entry.jwks, let set = try? JWKSet.parse(jwks.serialized()) else { return nil }
            return ClientRecord(client: entry.client, keys: .inline(set))
        })
    }
}
