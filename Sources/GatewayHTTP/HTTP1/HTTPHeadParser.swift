// http_parser 2.9 wrapped for one message head at a time. The strict byte rules run first (HeadScanner);
// http_parser then tokenises the start line and field lines and adds its own checks (URL characters,
// version syntax, Content-Length digits, Content-Length with Transfer-Encoding). Bodies are framed in
// Swift (ChunkedDecoder, content-length counting) because this build of http_parser accepts chunk data
// not followed by CRLF and whitespace after a chunk size, both smuggling vectors.
//
// Callback context uses `parser.data` + `Unmanaged.passUnretained` (C-INTEROP pitfalls 9 and 13): the
// callbacks only run inside `http_parser_execute`, while `self` is alive.

import CHTTPParser

/// The tokens of one message head.
struct ParsedHead {
    var method: String = ""
    var target: String = ""
    var major: Int = 0
    var minor: Int = 0
    var status: Int = 0
    var headers = HTTPHeaders()
}

final class HTTPHeadParser {
    private let parser: UnsafeMutablePointer<http_parser>
    private var settings = http_parser_settings()
    private let type: http_parser_type
    private var url: [UInt8] = []
    private var field: [UInt8] = []
    private var value: [UInt8] = []
    private var inValue = false
    private var headers: [(String, String)] = []
    private var headersComplete = false
    private var invalidText = false

    /// Raises http_parser's process-wide header cap once: our own (configurable) limits apply first.
    private static let raiseGlobalHeaderCap: Void = http_parser_set_max_header_size(UInt32(16 * 1024 * 1024))

    init(isRequest: Bool) {
        _ = Self.raiseGlobalHeaderCap
        type = isRequest ? HTTP_REQUEST : HTTP_RESPONSE
        parser = .allocate(capacity: 1)
        http_parser_settings_init(&settings)
        settings.on_url = { p, at, n in HTTPHeadParser.owner(p).appendURL(at, n) }
        settings.on_header_field = { p, at, n in HTTPHeadParser.owner(p).appendField(at, n) }
        settings.on_header_value = { p, at, n in HTTPHeadParser.owner(p).appendValue(at, n) }
        settings.on_headers_complete = { p in HTTPHeadParser.owner(p).finishHeaders() }
    }

    deinit { parser.deallocate() }

    private static func owner(_ p: UnsafeMutablePointer<http_parser>?) -> HTTPHeadParser {
        Unmanaged<HTTPHeadParser>.fromOpaque(p!.pointee.data).takeUnretainedValue()
    }

    /// Parses one complete head (start line through the empty line).
    func parse(_ head: UnsafeRawBufferPointer) -> Result<ParsedHead, HTTPParseError> {
        reset()
        let parsed = head.withMemoryRebound(to: CChar.self) { chars in
            http_parser_execute(parser, &settings, chars.baseAddress, chars.count)
        }
        let errno = CHTTPParser_errno(parser)
        guard errno == HPE_OK, headersComplete, parsed == head.count || parser.pointee.upgrade == 1 else {
            return .failure(Self.mapError(errno))
        }
        guard !invalidText else { return .failure(.bad("invalid_utf8", "header value is not valid UTF-8")) }
        var result = ParsedHead()
        result.major = Int(parser.pointee.http_major)
        result.minor = Int(parser.pointee.http_minor)
        if type == HTTP_REQUEST {
            result.method = Self.methodName(Int(parser.pointee.method))
            result.target = String(decoding: url, as: UTF8.self)
        } else {
            result.status = Int(parser.pointee.status_code)
        }
        result.headers = HTTPHeaders(headers)
        return .success(result)
    }

    /// http_parser's method names, made once (not a C string conversion per request).
    private static let methodNames: [String] = (0..<64).map {
        String(cString: http_method_str(http_method(UInt32($0))))
    }

    private static func methodName(_ index: Int) -> String {
        index < methodNames.count ? methodNames[index] : "<unknown>"
    }

    private func reset() {
        http_parser_init(parser, type)
        parser.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        url.removeAll(keepingCapacity: true)
        field.removeAll(keepingCapacity: true)
        value.removeAll(keepingCapacity: true)
        headers.removeAll(keepingCapacity: true)
        inValue = false
        headersComplete = false
        invalidText = false
    }

    private func appendURL(_ at: UnsafePointer<CChar>?, _ n: Int) -> Int32 {
        url.append(contentsOf: UnsafeRawBufferPointer(start: at, count: n))
        return 0
    }

    private func appendField(_ at: UnsafePointer<CChar>?, _ n: Int) -> Int32 {
        if inValue { commitField() }
        field.append(contentsOf: UnsafeRawBufferPointer(start: at, count: n))
        return 0
    }

    private func appendValue(_ at: UnsafePointer<CChar>?, _ n: Int) -> Int32 {
        inValue = true
        value.append(contentsOf: UnsafeRawBufferPointer(start: at, count: n))
        return 0
    }

    private func finishHeaders() -> Int32 {
        if inValue || !field.isEmpty { commitField() }
        headersComplete = true
        return 0
    }

    private func commitField() {
        // Field values are trimmed of optional whitespace (RFC 9110 §5.5); obs-text must still be UTF-8
        // so that the String round trip cannot change the bytes forwarded upstream.
        var start = 0, end = value.count
        while start < end && (value[start] == sp || value[start] == ht) { start += 1 }
        while end > start && (value[end - 1] == sp || value[end - 1] == ht) { end -= 1 }
        let name = String(decoding: field, as: UTF8.self)
        let slice = value[start..<end]
        // ASCII (the usual case) needs no validation; anything else must be well-formed UTF-8.
        let text = slice.allSatisfy { $0 < 0x80 }
            ? String(decoding: slice, as: UTF8.self) : String(validating: slice, as: UTF8.self)
        if let text {
            headers.append((name, text))
        } else {
            invalidText = true
        }
        field.removeAll(keepingCapacity: true)
        value.removeAll(keepingCapacity: true)
        inValue = false
    }

    private static func mapError(_ errno: http_errno) -> HTTPParseError {
        switch errno {
        case HPE_UNEXPECTED_CONTENT_LENGTH:
            .bad("content_length_conflict", "conflicting Content-Length or Transfer-Encoding")
        case HPE_INVALID_CONTENT_LENGTH: .bad("invalid_content_length", "invalid Content-Length")
        case HPE_INVALID_TRANSFER_ENCODING: .bad("invalid_transfer_encoding", "invalid Transfer-Encoding")
        case HPE_HEADER_OVERFLOW:
            HTTPParseError(status: 431, reason: "headers_too_large", message: "header block too large")
        case HPE_INVALID_METHOD:
            HTTPParseError(status: 501, reason: "unknown_method", message: "method not implemented")
        case HPE_INVALID_VERSION: .bad("invalid_version", "malformed HTTP version")
        case HPE_INVALID_URL: .bad("invalid_target", "malformed request target")
        case HPE_INVALID_HEADER_TOKEN: .bad("invalid_header_name", "invalid character in a header name")
        default: .bad("malformed_head", "malformed message head")
        }
    }
}
