// Small helpers for building and editing JSON values (GatewayCore/JSON.swift).
import GatewayCore

extension JSONObject {
    /// An object with the members in the given order.
    static func make(_ members: [(String, JSONValue)]) -> JSONObject {
        JSONObject(members.map { (key: $0.0, value: $0.1) })
    }

    /// A copy with `key` set (replacing the first member of that name, or appended).
    func setting(_ key: String, _ value: JSONValue) -> JSONObject {
        var members = self.members
        if let index = members.firstIndex(where: { $0.key == key }) {
            members[index].value = value
        } else {
            members.append((key: key, value: value))
        }
        return JSONObject(members)
    }

    /// A copy without `key`.
    func removing(_ key: String) -> JSONObject {
        JSONObject(members.filter { $0.key != key })
    }
}
