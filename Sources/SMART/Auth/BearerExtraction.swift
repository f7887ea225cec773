// Getting the token out of `Authorization` (RFC 6750 §2.1): scheme `Bearer` (case-insensitive, RFC 7235),
// one space, then a b64token. Tokens in the query or form body are refused by the router, not here.

enum BearerExtraction {
    static func token(from header: String?, maxLength: Int) -> Result<String, BearerError> {
        guard let header else { return .failure(BearerError(.missing, "no Authorization header")) }
        let bytes = Array(header.utf8)
        guard bytes.count > 7, String(decoding: bytes[..<6], as: UTF8.self).caseInsensitiveASCIIEquals("bearer"),
            bytes[6] == 0x20
        else { return .failure(BearerError(.missing, "not a Bearer credential")) }
        let token = bytes[7...]
        guard token.count <= maxLength else { return .failure(BearerError(.malformed, "token too long")) }
        guard isB64Token(token) else { return .failure(BearerError(.malformed, "not a b64token")) }
        return .success(String(decoding: token, as: UTF8.self))
    }

    /// `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="` (RFC 6750 §2.1).
    static func isB64Token(_ bytes: ArraySlice<UInt8>) -> Bool {
        let body = bytes.prefix { $0 != UInt8(ascii: "=") }
        guard !body.isEmpty, bytes.dropFirst(body.count).allSatisfy({ $0 == UInt8(ascii: "=") }) else { return false }
        return body.allSatisfy { byte in
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                || [
                    UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "+"),
                    UInt8(ascii: "/"),
                ].contains(byte)
        }
    }
}

extension String {
    func caseInsensitiveASCIIEquals(_ other: String) -> Bool {
        let a = Array(utf8)
        let b = Array(other.utf8)
        guard a.count == b.count else { return false }
        return zip(a, b).allSatisfy { x, y in
            let lx = (0x41...0x5A).contains(x) ? x | 0x20 : x
            let ly = (0x41...0x5A).contains(y) ? y | 0x20 : y
            return lx == ly
        }
    }
}
