// Serialisation of HTTP/1.1 heads and chunk framing. Headers the codec owns (framing, connection
// management) are always written by the codec itself, never copied from the model, so that a handler or
// an upstream can never inject framing (attack-cases rule 7). Field lines with bytes that could split a
// message (CR, LF, NUL, other controls) or with non-token names are dropped.

import Glibc

enum HTTP1Serializer {
    /// Hop-by-hop and framing fields that the codec writes itself (RFC 9110 §7.6.1, RFC 9112 §6-7).
    static let codecOwnedFields: [String] = [
        "Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "TE", "Trailer", "Upgrade",
        "Content-Length", "HTTP2-Settings",
    ]

    /// Compared without allocating: most names differ in length and are rejected at once.
    static func isOwned(_ name: String) -> Bool {
        codecOwnedFields.contains { name.caseInsensitiveEquals($0) }
    }

    /// True when a field line can be written as is.
    static func isSafeField(name: String, value: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy(isTokenChar)
            && value.utf8.allSatisfy { $0 == ht || ($0 >= 0x20 && $0 != 0x7F) }
    }

    static func appendField(_ out: inout [UInt8], _ name: String, _ value: String) {
        out.append(contentsOf: name.utf8)
        out.append(colon)
        out.append(sp)
        out.append(contentsOf: value.utf8)
        out.append(cr)
        out.append(lf)
    }

    /// Appends the model's fields except codec-owned and unsafe ones.
    static func appendModelFields(_ out: inout [UInt8], _ headers: HTTPHeaders, skipping extra: String? = nil) {
        for (name, value) in headers where !isOwned(name) && isSafeField(name: name, value: value) {
            if let extra, name.caseInsensitiveEquals(extra) { continue }
            appendField(&out, name, value)
        }
    }

    /// `size CRLF` for one chunk.
    static func chunkPrefix(_ size: Int) -> [UInt8] {
        Array(String(size, radix: 16).utf8) + [cr, lf]
    }

    static let lastChunk: [UInt8] = Array("0\r\n\r\n".utf8)
    static let crlf: [UInt8] = [cr, lf]
    static let continueResponse: [UInt8] = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)
}

/// The IMF-fixdate for the `Date` header (RFC 9110 §5.6.7), recomputed at most once a second.
struct HTTPDateCache {
    private var second = 0
    private var cached = ""

    mutating func current() -> String {
        let now = time(nil)
        if now != second || cached.isEmpty {
            second = now
            cached = Self.format(now)
        }
        return cached
    }

    static func format(_ seconds: Int) -> String {
        var t = seconds
        var parts = tm()
        gmtime_r(&t, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let weekday = days[Int(parts.tm_wday)], month = months[Int(parts.tm_mon)]
        let day = "\(weekday), \(two(parts.tm_mday)) \(month) \(parts.tm_year + 1900)"
        return day + " \(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}
