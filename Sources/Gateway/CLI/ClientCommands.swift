// Editing the requester registry: shared by `pdmp-gateway clients ...` and `POST /admin/clients`.

import Foundation
public import GatewayCore
import SMART
import GatewayYAML

public enum ClientCommands {
    /// A registry entry from the JSON that the admin endpoint accepts: `id`, `name`, `kind`, `npis`,
    /// `deas`, `roles`, `networks`, `scopes` (array or space-separated string), `status`, and `jwks` (a
    /// JWK Set object) or `jwks_url`.
    public static func entry(fromJSON json: JSONValue) throws -> ClientEntry {
        guard case .object = json else { throw GatewayError.badRequest("expected a JSON object") }
        func list(_ key: String) -> [String] {
            if let s = json[key]?.stringValue { return s.split(separator: " ").map(String.init) }
            return json[key]?.arrayValue?.compactMap(\.stringValue) ?? []
        }
        guard let id = json["id"]?.stringValue else { throw GatewayError.badRequest("'id' is required") }
        var fields: [(String, YAMLish)] = [("id", .string(id))]
        if let name = json["name"]?.stringValue { fields.append(("name", .string(name))) }
        if let kind = json["kind"]?.stringValue { fields.append(("kind", .string(kind))) }
        if let status = json["status"]?.stringValue { fields.append(("status", .string(status))) }
        for key in ["npis", "deas", "roles", "networks", "scopes"] where !list(key).isEmpty {
            fields.append((key, .list(list(key))))
        }
        if let url = json["jwks_url"]?.stringValue { fields.append(("jwks_url", .string(url))) }
        if let jwks = json["jwks"] { fields.append(("jwks", .json(jwks))) }
        return try YAMLish.decodeEntry(fields)
    }

    /// Adds or replaces an entry in the file (validated before writing).
    public static func upsert(_ entry: ClientEntry, path: String) throws {
        var entries = try ClientsFile.load(path: path)
        entries.removeAll { $0.client.id == entry.client.id }
        entries.append(entry)
        try ClientsFile.save(entries, path: path)
    }

    /// What listings show of a client: never key material beyond key ids.
    public static func summary(_ entry: ClientEntry) -> JSONValue {
        let c = entry.client
        var object = JSONObject([
            ("id", .string(c.id)), ("name", .string(c.name)), ("kind", .string(c.kind.rawValue)),
            ("status", .string(c.status.rawValue)), ("npis", .array(c.npis.map(JSONValue.string))),
            ("roles", .array(c.roles.map(JSONValue.string))), ("scopes", .array(c.allowedScopes.map(JSONValue.string))),
        ])
        if let url = entry.jwksURL { object["jwks_url"] = .string(url) }
        if case .array(let keys)? = entry.jwks?["keys"] {
            object["key_ids"] = .array(keys.compactMap { $0["kid"] })
        }
        return .object(object)
    }
}

/// A tiny bridge so that JSON registrations go through the same decoder and checks as the YAML file.
enum YAMLish {
    case string(String)
    case list([String])
    case json(JSONValue)

    static func decodeEntry(_ fields: [(String, YAMLish)]) throws -> ClientEntry {
        let node = YAMLNode.mapping(fields.map { key, value in
            switch value {
            case .string(let s): (key, YAMLNode.string(s))
            case .list(let items): (key, YAMLNode.sequence(items.map(YAMLNode.string)))
            case .json(let json): (key, ClientsFile.yaml(from: json))
            }
        })
        // Round-trip through text so that marks and paths are real and the file decoder applies unchanged.
        let text = YAMLEmitter.emit(.mapping([("clients", .sequence([node]))]))
        let entries = try ClientsFile.decode(YAMLParser.parse(text, file: "<registration>"))
        return entries[0]
    }
}
