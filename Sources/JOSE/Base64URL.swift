// Strict base64url (RFC 7515 §2 and Appendix C; RFC 4648 §5): the URL-safe alphabet, no padding, no
// whitespace, and no non-zero spare bits, so that every byte string has exactly one accepted encoding.
// Two encodings of one token would let a replay or cache key differ from what was verified (rule 0.2).

/// Canonical, unpadded base64url.
public enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(index) }
        return table
    }()

    /// Encodes without padding.
    public static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var index = 0
        while index + 3 <= bytes.count {
            let n = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            out += [
                alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)],
                alphabet[Int(n & 63)],
            ]
            index += 3
        }
        let rest = bytes.count - index
        if rest == 1 {
            let n = UInt32(bytes[index]) << 16
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)]]
        } else if rest == 2 {
            let n = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)]]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Encodes the UTF-8 bytes of a string.
    public static func encode(_ string: String) -> String { encode(Array(string.utf8)) }

    /// Decodes canonical base64url; nil for padding, any character outside the alphabet, an impossible
    /// length, or non-zero spare bits in the last character.
    public static func decode<S: Sequence>(_ text: S) -> [UInt8]? where S.Element == UInt8 {
        var sextets: [UInt8] = []
        for byte in text {
            let value = values[Int(byte)]
            guard value != 0xFF else { return nil }
            sextets.append(value)
        }
        guard sextets.count % 4 != 1 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(sextets.count * 3 / 4)
        var index = 0
        while index + 4 <= sextets.count {
            let n =
                UInt32(sextets[index]) << 18 | UInt32(sextets[index + 1]) << 12
                | UInt32(sextets[index + 2]) << 6 | UInt32(sextets[index + 3])
            out += [UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)]
            index += 4
        }
        switch sextets.count - index {
        case 2:
            guard sextets[index + 1] & 0x0F == 0 else { return nil }
            out.append(sextets[index] << 2 | sextets[index + 1] >> 4)
        case 3:
            guard sextets[index + 2] & 0x03 == 0 else { return nil }
            out.append(sextets[index] << 2 | sextets[index + 1] >> 4)
            out.append(sextets[index + 1] << 4 | sextets[index + 2] >> 2)
        default:
            break
        }
        return out
    }

    /// Decodes a string; see `decode(_:)` for the rules.
    public static func decode(_ text: String) -> [UInt8]? { decode(text.utf8) }

    /// Decodes a Base64urlUInt (RFC 7518 §2): non-empty and without leading zero octets, except that zero
    /// itself is one zero octet.
    public static func decodeUInt(_ text: String) -> [UInt8]? {
        guard let bytes = decode(text), !bytes.isEmpty else { return nil }
        guard bytes.count == 1 || bytes[0] != 0 else { return nil }
        return bytes
    }
}
