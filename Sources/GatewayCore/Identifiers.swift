// Random identifiers (request IDs, token `jti`s, audit ids).

import Foundation

public enum RandomID {
    /// 128 random bits as 32 lowercase hex characters.
    public static func hex128() -> String {
        var generator = SystemRandomNumberGenerator()
        let a = generator.next() as UInt64
        let b = generator.next() as UInt64
        return String(format: "%016llx%016llx", a, b)
    }

    /// A random (version 4, RFC 9562 §5.4) UUID string in lowercase, as FHIR `id`s and request IDs commonly
    /// are. Made here from `SystemRandomNumberGenerator` (one `getrandom` call per half) because Foundation's
    /// `UUID()` opens, reads and closes `/dev/urandom` each time, about 5 % of a proxied request's CPU.
    public static func uuid() -> String {
        var generator = SystemRandomNumberGenerator()
        // Version 4 in the high nibble of byte 6, variant 10 in the two high bits of byte 8.
        let high = (generator.next() as UInt64) & 0xFFFF_FFFF_FFFF_0FFF | 0x0000_0000_0000_4000
        let low = (generator.next() as UInt64) & 0x3FFF_FFFF_FFFF_FFFF | 0x8000_0000_0000_0000
        let digits: StaticString = "0123456789abcdef"
        return String(unsafeUninitializedCapacity: 36) { out in
            var index = 0
            for nibble in 0..<32 {
                if nibble == 8 || nibble == 12 || nibble == 16 || nibble == 20 {
                    out[index] = UInt8(ascii: "-")
                    index += 1
                }
                let word = nibble < 16 ? high : low
                out[index] = digits.utf8Start[Int((word >> UInt64(60 - (nibble % 16) * 4)) & 0xF)]
                index += 1
            }
            return index
        }
    }
}

/// A request ID is accepted from a client only when it is short and made of safe characters
/// (letters, digits, `-`, `_`, `.`, `:`), so it can never inject into logs, headers or audit records.
public enum RequestID {
    public static let maxLength = 128

    public static func isWellFormed(_ value: String) -> Bool {
        guard !value.isEmpty, value.utf8.count <= maxLength else { return false }
        return value.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == 0x2D || byte == 0x5F || byte == 0x2E || byte == 0x3A
        }
    }
}
