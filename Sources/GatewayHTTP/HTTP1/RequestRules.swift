// The request rules that sit above byte syntax: which methods, targets, versions and header
// combinations the gateway accepts. Each rule names its source; the attack cases that exercise them are
// SMG-01, SMG-03, SMG-04, SMG-08 and PATH-06.

enum RequestLineRules {
    /// Methods the gateway serves (FHIR RESTful API plus OPTIONS for CORS).
    /// The `Allow` header of a 405 answered before routing (RFC 9110 §15.5.6: a 405 MUST list the methods
    /// the target supports; before routing, that is what the gateway serves at all).
    public static let allowHeader = "GET, HEAD, POST, PUT, PATCH, DELETE"

    static let allowedMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]

    /// Methods that exist but the gateway refuses with 405: TRACE (cross-site tracing), CONNECT (tunnels
    /// bypass every check) and the WebDAV and other methods http_parser knows (PATH-06).
    static let refusedMethods: Set<String> = [
        "TRACE", "CONNECT", "COPY", "LOCK", "MKCOL", "MOVE", "PROPFIND", "PROPPATCH", "SEARCH", "UNLOCK", "BIND",
        "REBIND", "UNBIND", "ACL", "REPORT", "MKACTIVITY", "CHECKOUT", "MERGE", "M-SEARCH", "NOTIFY",
        "SUBSCRIBE", "UNSUBSCRIBE", "PURGE", "MKCALENDAR", "LINK", "UNLINK", "SOURCE", "PRI",
    ]

    /// Checks `method SP request-target SP HTTP-version` (RFC 9112 §3); nil when acceptable.
    static func check(_ line: [UInt8]) -> HTTPParseError? {
        let parts = line.split(separator: sp, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty else {
            return .bad("malformed_request_line", "malformed request line")
        }
        if let error = checkMethod(parts[0]) { return error }
        if let error = checkVersion(parts[2]) { return error }
        return checkTarget(parts[1])
    }

    private static func checkMethod(_ bytes: ArraySlice<UInt8>) -> HTTPParseError? {
        guard bytes.allSatisfy(isTokenChar) else { return .bad("malformed_request_line", "malformed method") }
        // Methods are case-sensitive (RFC 9110 §9.1); a lowercase variant of a real method is a probe.
        if bytes.contains(where: { $0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z") }) {
            return .bad("lowercase_method", "methods are case-sensitive")
        }
        let method = String(decoding: bytes, as: UTF8.self)
        if allowedMethods.contains(method) { return nil }
        if refusedMethods.contains(method) {
            return HTTPParseError(status: 405, reason: "method_not_allowed", message: "method not allowed")
        }
        return HTTPParseError(status: 501, reason: "unknown_method", message: "method not implemented")
    }

    private static let http11: [UInt8] = Array("HTTP/1.1".utf8)
    private static let http10: [UInt8] = Array("HTTP/1.0".utf8)

    private static func checkVersion(_ bytes: ArraySlice<UInt8>) -> HTTPParseError? {
        if bytes.elementsEqual(http11) || bytes.elementsEqual(http10) { return nil }
        let text = Array(bytes)
        let isDigit = { (b: UInt8) in b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
        if text.count == 8, text.starts(with: "HTTP/".utf8), isDigit(text[5]), text[6] == UInt8(ascii: "."),
            isDigit(text[7])
        {
            return HTTPParseError(status: 505, reason: "unsupported_version", message: "HTTP version not supported")
        }
        return .bad("invalid_version", "malformed HTTP version")
    }

    private static func checkTarget(_ bytes: ArraySlice<UInt8>) -> HTTPParseError? {
        // Only origin-form (RFC 9112 §3.2.1). Absolute-form would let the client pick the authority the
        // gateway believes it is serving; authority-form belongs to CONNECT; asterisk-form is unused.
        guard bytes.first == UInt8(ascii: "/") else {
            return .bad("invalid_target", "only origin-form request targets are accepted")
        }
        guard !bytes.contains(UInt8(ascii: "#")) else {
            return .bad("invalid_target", "fragment in request target")
        }
        return nil
    }
}

enum RequestHeadRules {
    enum Body: Equatable {
        case none
        case length(Int)
        case chunked
    }

    struct Framing {
        var body: Body
        var expectContinue: Bool
    }

    /// The fields the rules look at, gathered in one pass over the header list.
    struct Fields {
        var hosts: [String] = []
        var contentLengths: [String] = []
        var transferEncodings: [String] = []
        var expects: [String] = []
        var connection: [String] = []
        var upgrade = false
        var methodOverride = false
        var underscore = false

        init(_ headers: HTTPHeaders) {
            for (name, value) in headers {
                if name.utf8.contains(UInt8(ascii: "_")) { underscore = true }
                // Compare only names of a matching length (caseInsensitiveEquals checks length first).
                switch name.utf8.count {
                case 4: if name.caseInsensitiveEquals("Host") { hosts.append(value) }
                case 6: if name.caseInsensitiveEquals("Expect") { expects.append(value) }
                case 7: if name.caseInsensitiveEquals("Upgrade") { upgrade = true }
                case 10: if name.caseInsensitiveEquals("Connection") { connection.append(value) }
                case 13: if name.caseInsensitiveEquals("X-HTTP-Method") { methodOverride = true }
                case 14:
                    if name.caseInsensitiveEquals("Content-Length") { contentLengths.append(value) }
                    if name.caseInsensitiveEquals("HTTP2-Settings") { upgrade = true }
                case 17:
                    if name.caseInsensitiveEquals("Transfer-Encoding") { transferEncodings.append(value) }
                    if name.caseInsensitiveEquals("X-Method-Override") { methodOverride = true }
                case 22: if name.caseInsensitiveEquals("X-HTTP-Method-Override") { methodOverride = true }
                default: break
                }
            }
        }
    }

    /// Methods whose requests must not carry content here: RFC 9110 §9.3 gives it no meaning, and a
    /// body the gateway ignores is one the upstream may parse as a second request (SMG-04).
    static let bodilessMethods: Set<String> = ["GET", "HEAD", "DELETE", "OPTIONS"]

    static func check(
        _ head: ParsedHead, version: HTTPVersion, limits: HTTPServerLimits
    ) -> Result<(framing: Framing, keepAlive: Bool), HTTPParseError> {
        let fields = Fields(head.headers)
        if let error = checkHost(fields.hosts, version: version) { return .failure(error) }
        if let error = checkSingleRequest(fields) { return .failure(error) }
        let body: Body
        switch bodyFraming(fields, version: version) {
        case .failure(let error): return .failure(error)
        case .success(let framing): body = framing
        }
        if bodilessMethods.contains(head.method) && body != .none && body != .length(0) {
            return .failure(.bad("body_not_allowed", "\(head.method) requests must not have a body"))
        }
        if case .length(let n) = body, n > limits.maxBodyBytes {
            return .failure(HTTPParseError(status: 413, reason: "body_too_large", message: "body too large"))
        }
        var expectContinue = false
        if let expect = fields.expects.first {
            // RFC 9110 §10.1.1: 100-continue is the only expectation; others get 417.
            guard fields.expects.count == 1, expect.caseInsensitiveEquals("100-continue") else {
                return .failure(
                    HTTPParseError(status: 417, reason: "unsupported_expectation", message: "expectation failed"))
            }
            // An HTTP/1.0 client cannot understand 100 (RFC 9110 §10.1.1); it is ignored then.
            expectContinue = version == .http1_1 && body != .none && body != .length(0)
        }
        let framing = Framing(body: body == .length(0) ? .none : body, expectContinue: expectContinue)
        return .success((framing, keepAlive(connectionValues: fields.connection, version: version)))
    }

    private static func checkHost(_ hosts: [String], version: HTTPVersion) -> HTTPParseError? {
        // RFC 9112 §3.2: exactly one Host on HTTP/1.1; more than one is always an error.
        if hosts.count > 1 { return .bad("multiple_host", "more than one Host header") }
        guard let host = hosts.first else {
            return version == .http1_1 ? .bad("missing_host", "Host header required") : nil
        }
        let allowed = { (b: UInt8) -> Bool in
            isTokenChar(b) && b != UInt8(ascii: "/") || "[]:!$&'()*+,;=%".utf8.contains(b)
        }
        // Empty is refused too: the gateway is always addressed by an authority, and the value feeds
        // X-Forwarded-Host.
        guard !host.isEmpty, host.utf8.allSatisfy(allowed), !host.utf8.contains(UInt8(ascii: "@")) else {
            return .bad("invalid_host", "invalid Host header")
        }
        return nil
    }

    /// Rules that keep one request one request, with one meaning, on its way upstream.
    private static func checkSingleRequest(_ fields: Fields) -> HTTPParseError? {
        // Protocol switches are never honoured: an upgraded (h2c, websocket) connection would carry later
        // requests past the gateway's checks (SMG-08).
        if fields.upgrade { return .bad("upgrade_not_allowed", "protocol upgrade is not supported") }
        // PATH-05: authorization sees the wire method, so a header that makes the upstream run another
        // one is refused outright rather than stripped.
        if fields.methodOverride { return .bad("method_override", "method override headers are not accepted") }
        // `X_Forwarded_For` and `X-Forwarded-For` become the same CGI/WSGI variable upstream, so a client
        // could shadow a header the gateway sets (HDR-02/HDR-03); such names are refused, not forwarded.
        if fields.underscore {
            return .bad("underscore_in_header_name", "header names with underscores are not accepted")
        }
        return nil
    }

    private static func bodyFraming(_ fields: Fields, version: HTTPVersion) -> Result<Body, HTTPParseError> {
        let lengths = fields.contentLengths
        let encodings = fields.transferEncodings
        // RFC 9112 §6.3: both present is a smuggling attempt (SMG-01); we refuse rather than prefer TE.
        if !lengths.isEmpty && !encodings.isEmpty {
            return .failure(.bad("content_length_and_transfer_encoding", "both Content-Length and Transfer-Encoding"))
        }
        if !encodings.isEmpty {
            // RFC 9112 §6.1: TE on an HTTP/1.0 message means the framing is faulty. Only a single, exact
            // `chunked` is understood; lists, other codings and obfuscated spellings are refused.
            guard version == .http1_1 else {
                return .failure(.bad("invalid_transfer_encoding", "Transfer-Encoding on HTTP/1.0"))
            }
            guard encodings.count == 1, encodings[0] == "chunked" else {
                return .failure(.bad("invalid_transfer_encoding", "only Transfer-Encoding: chunked is accepted"))
            }
            return .success(.chunked)
        }
        if lengths.isEmpty { return .success(.none) }
        // SMG-03: one value, digits only. Repeated identical values are refused too (RFC 9110 §8.6 allows
        // collapsing them; refusing is the simpler rule and no real client sends two).
        guard lengths.count == 1, let n = parseContentLength(lengths[0]) else {
            return .failure(.bad("invalid_content_length", "invalid Content-Length"))
        }
        return .success(.length(n))
    }

    /// Parses `1*DIGIT` without sign, whitespace or overflow.
    static func parseContentLength(_ text: String) -> Int? {
        let digits = text.utf8
        guard !digits.isEmpty, digits.count <= 18 else { return nil }
        var value = 0
        for d in digits {
            guard d >= UInt8(ascii: "0") && d <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(d - UInt8(ascii: "0"))
        }
        return value
    }

    /// Whether the connection stays open after this message (RFC 9112 §9.3).
    static func keepAlive(_ headers: HTTPHeaders, version: HTTPVersion) -> Bool {
        keepAlive(connectionValues: headers.values("Connection"), version: version)
    }

    static func keepAlive(connectionValues: [String], version: HTTPVersion) -> Bool {
        var close = false, keepAlive = false
        for value in connectionValues {
            for token in value.split(separator: ",") {
                let t = token.trimmingSpaces()
                if t.caseInsensitiveEquals("close") { close = true }
                if t.caseInsensitiveEquals("keep-alive") { keepAlive = true }
            }
        }
        if close { return false }
        return version == .http1_1 || keepAlive
    }
}

extension Substring {
    func trimmingSpaces() -> String {
        var s = self[...]
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
