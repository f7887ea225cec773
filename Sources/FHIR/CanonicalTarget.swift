// One canonical form for request targets (attack-cases §0 rule 8, PATH-01/PATH-03): the gateway never
// normalises a path, it refuses every form that some layer could read differently. The query is decoded
// strictly (RFC 3986 §2.1 percent-encoding, `+` as space as in application/x-www-form-urlencoded).

/// Strict parsing of the request-target.
enum CanonicalTarget {
    /// Splits an origin-form target into path segments below the FHIR base and the raw query.
    ///
    /// - Throws: 400 for anything but `/` + base segments + canonical segments, with no fragment.
    static func split(_ target: String, base: [String]) throws(FHIRRequestError) -> (
        segments: [String], query: Substring?
    ) {
        let (path, query) = separateQuery(target)
        guard !target.contains("#") else { throw .invalid("The request target must not contain a fragment") }
        let segments = try segments(of: path)
        guard segments.count >= base.count, Array(segments[..<base.count]) == base else {
            throw .invalid("The request path is not under the FHIR base")
        }
        return (Array(segments[base.count...]), query)
    }

    /// Checks a path that must already be canonical and returns its segments.
    static func segments(of path: Substring) throws(FHIRRequestError) -> [String] {
        guard path.first == "/" else { throw .invalid("The request path must start with /") }
        // Only the characters FHIR paths need: type names, ids, `_history`, `_search`, `$op`, `*`.
        // `%` (encoded slashes and dots), `\`, `;` and the rest are refused outright (PATH-01, PATH-03).
        guard path.utf8.allSatisfy(isPathByte) else {
            throw .invalid("The request path contains characters that are not allowed")
        }
        let body = path.dropFirst()
        if body.isEmpty { return [] }
        let parts = body.split(separator: "/", omittingEmptySubsequences: false)
        for part in parts where part.isEmpty || part == "." || part == ".." {
            throw .invalid("The request path is not canonical (empty or dot segment, or trailing slash)")
        }
        return parts.map(String.init)
    }

    static func separateQuery(_ target: String) -> (Substring, Substring?) {
        guard let mark = target.firstIndex(of: "?") else { return (Substring(target), nil) }
        return (target[..<mark], target[target.index(after: mark)...])
    }

    private static func isPathByte(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: true
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "$"), UInt8(ascii: "/"):
            true
        default: false
        }
    }
}

/// Strict `application/x-www-form-urlencoded` / query decoding.
enum FormDecoding {
    /// Splits `a=1&b=2` into decoded pairs. Empty pieces (`&&`, a trailing `&`) and pieces without `=` are
    /// refused: a lenient parser here and a different one upstream is a parser differential.
    static func pairs(_ text: Substring) throws(FHIRRequestError) -> [(key: String, value: String)] {
        if text.isEmpty { return [] }
        var result: [(key: String, value: String)] = []
        for piece in text.split(separator: "&", omittingEmptySubsequences: false) {
            guard let equals = piece.firstIndex(of: "=") else {
                throw .invalid("Every query parameter must have the form name=value")
            }
            let key = try decode(piece[..<equals])
            let value = try decode(piece[piece.index(after: equals)...])
            guard !key.isEmpty else { throw .invalid("A query parameter has an empty name") }
            result.append((key, value))
        }
        return result
    }

    /// Percent-decodes one component; `+` is a space. The result must be valid UTF-8 without controls.
    static func decode(_ text: Substring) throws(FHIRRequestError) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    throw .invalid("The query contains a malformed percent-encoding")
                }
                bytes.append(high << 4 | low)
            case UInt8(ascii: "+"): bytes.append(0x20)
            default: bytes.append(byte)
            }
        }
        guard let string = String(validating: bytes, as: UTF8.self),
            !string.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
        else { throw .invalid("The query is not valid UTF-8 text") }
        return string
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: byte - 0x30
        case 0x41...0x46: byte - 0x41 + 10
        case 0x61...0x66: byte - 0x61 + 10
        default: nil
        }
    }
}
