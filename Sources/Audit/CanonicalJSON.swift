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
            writeObject(object.members, into: &out)
        }
    }

    static func writeObject(_ members: [(key: String, value: JSONValue)], into out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        for (i, index) in sortedOrder(members).enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            writeString(members[index].key, into: &out)
            out.append(UInt8(ascii: ":"))
            write(members[index].value, into: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    /// Member indices in byte order of their names (names are unique: the parser rejects duplicates).
    private static func sortedOrder(_ members: [(key: String, value: JSONValue)]) -> [Int] {
        var order = Array(members.indices)
        // Most objects are small; an insertion sort avoids the comparator overhead of the general sort.
        for i in order.indices.dropFirst() {
            var j = i
            while j > 0 && precedes(members[order[j]].key, members[order[j - 1]].key) {
                order.swapAt(j, j - 1)
                j -= 1
            }
        }
        return order
    }

    private static func precedes(_ a: String, _ b: String) -> Bool {
        var a = a
        var b = b
        return a.withUTF8 { x in
            b.withUTF8 { y in
                let common = min(x.count, y.count)
                for k in 0..<common where x[k] != y[k] { return x[k] < y[k] }
                return x.count < y.count
            }
        }
    }

    /// Appends `s` as a JSON string: `"` and `\` escaped, `\n` `\r` `\t`, other control characters as `\u00xx`,
    /// everything else as raw UTF-8 (RFC 8259 §7).
    public static func writeString(_ s: String, into out: inout [UInt8]) {
        var s = s
        s.withUTF8 { bytes in
            out.append(UInt8(ascii: "\""))
            var runStart = 0
            for k in 0..<bytes.count {
                let byte = bytes[k]
                guard byte < 0x20 || byte == 0x22 || byte == 0x5C else { continue }
                // Copy the run of plain bytes in one go, then the escape.
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<k]))
                appendEscape(byte, into: &out)
                runStart = k + 1
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<bytes.count]))
            out.append(UInt8(ascii: "\""))
        }
    }

    private static func appendEscape(_ byte: UInt8, into out: inout [UInt8]) {
        switch byte {
        case 0x22: out.append(contentsOf: [0x5C, 0x22])
        case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
        case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
        case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
        case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
        default:
            let hex: StaticString = "0123456789abcdef"
            out.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30])
            out.append(hex.utf8Start[Int(byte >> 4)])
            out.append(hex.utf8Start[Int(byte & 0x0F)])
        }
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
