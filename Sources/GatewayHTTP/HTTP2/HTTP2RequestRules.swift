// Which HTTP/2 request header fields make a message malformed (RFC 9113 §8.2) and which are refused by
// the same rules as HTTP/1.1 (RequestRules.swift). A malformed message is a stream error; nothing of it
// reaches the handler (attack case SMG-06, rule 7).

/// Why a request stream is refused before it reaches the handler.
enum HTTP2Rejection: Equatable {
    /// RST_STREAM(PROTOCOL_ERROR) (RFC 9113 §8.1.1).
    case malformed(String)
    /// An error response (400, 405, 413, 431, 501), rendered like the HTTP/1.1 ones.
    case status(Int, reason: String, message: String)

    var reason: String {
        switch self {
        case .malformed(let reason): reason
        case .status(_, let reason, _): reason
        }
    }
}

enum HTTP2RequestRules {
    /// Connection-specific fields (RFC 9113 §8.2.2): their presence makes the message malformed.
    static let connectionSpecific: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "http2-settings",
    ]
    static let methodOverrides: Set<String> = ["x-http-method", "x-http-method-override", "x-method-override"]

    /// Checks one regular field; nil when acceptable.
    static func check(name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>) -> HTTP2Rejection? {
        guard !name.isEmpty else { return .malformed("empty_header_name") }
        for byte in name {
            // RFC 9113 §8.2.1: names are lowercase tokens; uppercase makes the message malformed.
            if byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") { return .malformed("uppercase_header_name") }
            if !isTokenChar(byte) { return .malformed("invalid_header_name") }
        }
        // RFC 9113 §8.2.1: no NUL, CR or LF anywhere, no leading or trailing whitespace.
        for byte in value where byte == 0 || byte == cr || byte == lf {
            return .malformed("invalid_header_value")
        }
        if let first = value.first, let last = value.last,
            first == sp || first == ht || last == sp || last == ht
        {
            return .malformed("invalid_header_value")
        }
        let text = String(decoding: name, as: UTF8.self)
        if connectionSpecific.contains(text) { return .malformed("connection_specific_header") }
        // RFC 9113 §8.2.2: TE may only carry "trailers".
        if text == "te" && !value.elementsEqual("trailers".utf8) { return .malformed("invalid_te") }
        // Same refusals as HTTP/1.1 (RequestRules.swift): PATH-05 and HDR-02/HDR-03.
        if methodOverrides.contains(text) {
            return .status(400, reason: "method_override", message: "method override headers are not accepted")
        }
        if name.contains(UInt8(ascii: "_")) {
            return .status(
                400, reason: "underscore_in_header_name", message: "header names with underscores are not accepted")
        }
        return nil
    }

    /// Checks the request as a whole once its header block ended; nil when acceptable.
    static func check(_ head: HTTP2RequestHead, limits: HTTPServerLimits) -> HTTP2Rejection? {
        guard let method = head.method, let path = head.path, head.scheme != nil else {
            return .malformed("missing_pseudo_header")  // RFC 9113 §8.3.1
        }
        if !RequestLineRules.allowedMethods.contains(method) {
            if RequestLineRules.refusedMethods.contains(method) {
                return .status(405, reason: "method_not_allowed", message: "method not allowed")
            }
            return .status(501, reason: "unknown_method", message: "method not implemented")
        }
        // Origin form only, as on HTTP/1.1 (RFC 9113 §8.3.1: `*` is for OPTIONS only, and not served here).
        guard path.utf8.first == UInt8(ascii: "/"), !path.utf8.contains(UInt8(ascii: "#")) else {
            return .malformed("invalid_path")
        }
        if let error = checkAuthority(head) { return error }
        if head.contentLengths.count > 1 { return .malformed("invalid_content_length") }
        if let text = head.contentLengths.first {
            guard let length = RequestHeadRules.parseContentLength(text) else {
                return .malformed("invalid_content_length")
            }
            if length > limits.maxBodyBytes {
                return .status(413, reason: "body_too_large", message: "body too large")
            }
            if length > 0 && RequestHeadRules.bodilessMethods.contains(method) {
                return .status(400, reason: "body_not_allowed", message: "\(method) requests must not have a body")
            }
        }
        return nil
    }

    /// `:authority` and `Host` must agree when both are present (RFC 9113 §8.3.1), and one must be.
    private static func checkAuthority(_ head: HTTP2RequestHead) -> HTTP2Rejection? {
        if head.hosts.count > 1 { return .malformed("multiple_host") }
        if let authority = head.authority, let host = head.hosts.first, authority != host {
            return .malformed("host_authority_mismatch")
        }
        guard let host = head.authority ?? head.hosts.first else {
            return .status(400, reason: "missing_host", message: ":authority or Host required")
        }
        let allowed = { (b: UInt8) -> Bool in
            isTokenChar(b) && b != UInt8(ascii: "/") || "[]:!$&'()*+,;=%".utf8.contains(b)
        }
        guard !host.isEmpty, host.utf8.allSatisfy(allowed), !host.utf8.contains(UInt8(ascii: "@")) else {
            return .status(400, reason: "invalid_host", message: "invalid :authority")
        }
        return nil
    }
}

/// The pseudo-header fields and the fields the rules look at, gathered while the block is decoded.
struct HTTP2RequestHead {
    var method: String?
    var path: String?
    var scheme: String?
    var authority: String?
    var hosts: [String] = []
    var contentLengths: [String] = []
    var headers = HTTPHeaders()
    /// Decoded header list size as RFC 9113 §6.5.2 counts it.
    var listBytes = 0
}
