// One place that builds JSON objects for SMART's responses, so the ordered-members representation of
// `JSONObject` is spelled out once.

import GatewayCore

enum JSONBuild {
    /// A JSON object with members in the given order.
    static func object(_ members: [(String, JSONValue)]) -> JSONValue {
        .object(JSONObject(members))
    }

    /// A JSON array of strings.
    static func strings(_ values: [String]) -> JSONValue { .array(values.map { .string($0) }) }
}
