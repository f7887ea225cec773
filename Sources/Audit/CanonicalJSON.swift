// The canonical JSON form the audit chain hashes (docs/audit.md "Record format"): object members sorted
// by the bytes of their UTF-8 names, no insignificant whitespace, numbers written exactly as their
// literal, strings escaped minimally. It is written here (not taken from JSONValue.serialized) so that a
// change in the general serializer can never invalidate the hashes of records already on disk.

public import GatewayCore

/// Serializes `JSONValue`s in the audit chain's canonical form.
public enum CanonicalJSON {
    /// Returns the canonical bytes of `value`: sorted member names, compact, minimal escapes.
    public static func serialize(_ value: JSONValue) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(1024)
        write(value, into: &out)
        return out
    }

    /// Appends the canonical bytes of `value` to `out`.
    public static func write(_ value: JSONValue, into out: inout [UInt8]) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let literal): out.append(contentsOf: literal.utf8)
        case .string(let s): writeString(s, into: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                write(item, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let object):
            writeObject(object.members.map { ($0.key, $0.value) }, into: &out)
        }
    }

    static func writeObject(_ members: [(String, JSONValue)], into out: inout [UInt8]) {
        let sorted = members.sorted { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }
        out.append(UInt8(ascii: "{"))
        for (i, member) in sorted.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            writeString(member.0, into: &out)
            out.append(UInt8(ascii: ":"))
            write(member.1, into: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    /// Appends `s` as a JSON string: `"` and `\` escaped, `\n` `\r` `\t`, other control characters as `\u00xx`,
    /// everything else as raw UTF-8 (RFC 8259 §7).
    public static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0x00..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                out.append(contentsOf: Array("\\u00".utf8))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

// Construction helpers used by the builder and the sink; they keep the JSONObject initialiser in one place.
extension JSONValue {
    /// An object with members in the given order.
    static func obj(_ members: [(String, JSONValue)]) -> JSONValue {
        .object(JSONObject(members.map { (key: $0.0, value: $0.1) }))
    }

    /// A string value.
    static func str(_ s: String) -> JSONValue { .string(s) }

    /// An integer number value.
    static func int<I: BinaryInteger>(_ n: I) -> JSONValue { .number(String(n)) }
}
