// One request/response model for HTTP/1.1 and HTTP/2 (ARCHITECTURE §1): the codecs produce and consume
// these, the pipeline never sees wire bytes.

/// An ordered, case-insensitive header list. Names are stored as received; lookups ignore case.
public struct HTTPHeaders: Sendable, Equatable, Sequence {
    public private(set) var entries: [(name: String, value: String)]

    public init(_ entries: [(String, String)] = []) {
        self.entries = entries.map { (name: $0.0, value: $0.1) }
    }

    public static func == (lhs: HTTPHeaders, rhs: HTTPHeaders) -> Bool {
        lhs.entries.elementsEqual(rhs.entries) { $0.name == $1.name && $0.value == $1.value }
    }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> { entries.makeIterator() }

    public var count: Int { entries.count }

    /// The first value of a header, or nil.
    public subscript(_ name: String) -> String? {
        entries.first { $0.name.caseInsensitiveEquals(name) }?.value
    }

    /// All values of a header, in order.
    public func values(_ name: String) -> [String] {
        entries.filter { $0.name.caseInsensitiveEquals(name) }.map(\.value)
    }

    public func contains(_ name: String) -> Bool { entries.contains { $0.name.caseInsensitiveEquals(name) } }

    public mutating func add(_ name: String, _ value: String) { entries.append((name, value)) }

    /// Replaces every value of `name` with one value.
    public mutating func set(_ name: String, _ value: String) {
        remove(name)
        entries.append((name, value))
    }

    public mutating func remove(_ name: String) { entries.removeAll { $0.name.caseInsensitiveEquals(name) } }

    public mutating func removeAll(where predicate: (String, String) -> Bool) {
        entries.removeAll { predicate($0.name, $0.value) }
    }
}

extension String {
    /// ASCII case-insensitive comparison (header names are ASCII tokens).
    @inlinable
    public func caseInsensitiveEquals(_ other: String) -> Bool {
        let a = utf8, b = other.utf8
        guard a.count == b.count else { return false }
        // Both strings are contiguous UTF-8 in practice (native or small); the zip below is the fallback
        // for bridged storage only, and is several times slower.
        let fast = a.withContiguousStorageIfAvailable { x in
            b.withContiguousStorageIfAvailable { y in asciiCaseInsensitiveEqual(x, y) }
        }
        if let fast, let result = fast { return result }
        return zip(a, b).allSatisfy { asciiCaseInsensitiveEqual($0, $1) }
    }
}

/// True when `x` and `y` are the same byte or the same ASCII letter in either case.
@inlinable
func asciiCaseInsensitiveEqual(_ x: UInt8, _ y: UInt8) -> Bool {
    x == y || (x | 0x20 == y | 0x20 && (x | 0x20) >= 0x61 && (x | 0x20) <= 0x7A)
}

/// Byte-wise `asciiCaseInsensitiveEqual` over two buffers of the same length.
@inlinable
func asciiCaseInsensitiveEqual(_ x: UnsafeBufferPointer<UInt8>, _ y: UnsafeBufferPointer<UInt8>) -> Bool {
    for index in 0..<x.count where !asciiCaseInsensitiveEqual(x[index], y[index]) { return false }
    return true
}

public enum HTTPVersion: Sendable, Equatable, CustomStringConvertible {
    case http1_0, http1_1, http2

    public var description: String {
        switch self {
        case .http1_0: "HTTP/1.0"
        case .http1_1: "HTTP/1.1"
        case .http2: "HTTP/2"
        }
    }
}

/// A request as the front end parsed it. `target` is the raw request-target (origin form, e.g.
/// `/fhir/Patient?name=x`); path canonicalisation happens in the router, which rejects non-canonical forms.
public struct HTTPRequest: Sendable {
    public var method: String
    public var target: String
    public var version: HTTPVersion
    public var headers: HTTPHeaders
    /// The whole body (request bodies are bounded by `limits.maxBodyBytes` and always buffered, since the
    /// classifier needs them).
    public var body: [UInt8]

    public init(method: String, target: String, version: HTTPVersion = .http1_1, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.body = body
    }

    /// The path part of the target (before `?`), undecoded.
    public var path: Substring {
        // Searched as UTF-8 (`?` is ASCII, so the index is a character boundary): a Character scan of the
        // target cost more than the rest of routing.
        target.utf8.firstIndex(of: UInt8(ascii: "?")).map { target[..<$0] } ?? Substring(target)
    }

    /// The raw query (after `?`), undecoded; nil if the target has no `?`.
    public var query: Substring? {
        target.utf8.firstIndex(of: UInt8(ascii: "?")).map { target[target.utf8.index(after: $0)...] }
    }
}

/// A response head plus a body that is either complete or streamed.
public struct HTTPResponseHead: Sendable {
    public var status: Int
    public var headers: HTTPHeaders

    public init(status: Int, headers: HTTPHeaders = HTTPHeaders()) {
        self.status = status
        self.headers = headers
    }
}

/// A complete response.
public struct HTTPResponse: Sendable {
    public var head: HTTPResponseHead
    public var body: [UInt8]

    public init(status: Int, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        self.head = HTTPResponseHead(status: status, headers: headers)
        self.body = body
    }

    public var status: Int {
        get { head.status }
        set { head.status = newValue }
    }

    public var headers: HTTPHeaders {
        get { head.headers }
        set { head.headers = newValue }
    }
}

/// Standard reason phrases for the status line.
public func reasonPhrase(_ status: Int) -> String {
    switch status {
    case 100: "Continue"
    case 200: "OK"
    case 201: "Created"
    case 202: "Accepted"
    case 204: "No Content"
    case 206: "Partial Content"
    case 301: "Moved Permanently"
    case 302: "Found"
    case 304: "Not Modified"
    case 400: "Bad Request"
    case 401: "Unauthorized"
    case 403: "Forbidden"
    case 404: "Not Found"
    case 405: "Method Not Allowed"
    case 406: "Not Acceptable"
    case 408: "Request Timeout"
    case 409: "Conflict"
    case 410: "Gone"
    case 411: "Length Required"
    case 412: "Precondition Failed"
    case 413: "Content Too Large"
    case 414: "URI Too Long"
    case 415: "Unsupported Media Type"
    case 422: "Unprocessable Content"
    case 429: "Too Many Requests"
    case 431: "Request Header Fields Too Large"
    case 500: "Internal Server Error"
    case 501: "Not Implemented"
    case 502: "Bad Gateway"
    case 503: "Service Unavailable"
    case 504: "Gateway Timeout"
    case 505: "HTTP Version Not Supported"
    default: "Status \(status)"
    }
}
