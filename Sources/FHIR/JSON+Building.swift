// Small helpers for building and editing JSON values (GatewayCore/JSON.swift).
import GatewayCore

extension JSONObject {
    /// An object with the members in the given order.
    static func make(_ members: [(String, JSONValue)]) -> JSONObject {
        JSONObject(members)
    }

    /// A copy with `key` set (replacing the member of that name in place, or appended).
    func setting(_ key: String, _ value: JSONValue) -> JSONObject {
        var copy = self
        copy[key] = value
        return copy
    }

    /// A copy without `key`.
    func removing(_ key: String) -> JSONObject {
        var copy = self
        copy[key] = nil
        return copy
    }
}
