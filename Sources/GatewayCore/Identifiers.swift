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

    /// A UUID string (lowercase), as FHIR `id`s and request IDs commonly are.
    public static func uuid() -> String { UUID().uuidString.lowercased() }
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
