import Testing
@testable import GatewayHTTP

/// Feeds raw bytes (optionally split into pieces) and collects events until the decoder needs more.
private func decode(_ pieces: [String], limits: HTTPServerLimits = HTTPServerLimits()) -> [RequestDecoderEvent] {
    var decoder = HTTP1RequestDecoder(limits: limits)
    var buffer = ByteAccumulator()
    var events: [RequestDecoderEvent] = []
    for piece in pieces {
        buffer.append(Array(piece.utf8))
        loop: while true {
            let event = decoder.next(&buffer)
            switch event {
            case .needMore: break loop
            case .failed: events.append(event); return events
            default: events.append(event)
            }
        }
    }
    return events
}

private func status(_ raw: String, limits: HTTPServerLimits = HTTPServerLimits()) -> Int? {
    for event in decode([raw], limits: limits) {
        if case .failed(let error) = event { return error.status }
    }
    return nil
}

private func requests(_ pieces: [String]) -> [HTTPRequest] {
    decode(pieces).compactMap { if case .request(let r, _) = $0 { r } else { nil } }
}

@Suite("HTTP/1.1 request framing")
struct HTTP1RequestDecoderTests {
    static let post = "POST /fhir/MedicationDispense/_search HTTP/1.1\r\nHost: gw.example:8443\r\n"

    @Test("a plain GET parses into method, target, version and headers")
    func plainGet() throws {
        let got = requests(["GET /fhir/Patient?name=x HTTP/1.1\r\nHost: gw\r\nAccept:  application/fhir+json \r\n\r\n"])
        let request = try #require(got.first)
        #expect(request.method == "GET")
        #expect(request.target == "/fhir/Patient?name=x")
        #expect(request.version == .http1_1)
        #expect(request.headers["accept"] == "application/fhir+json")
        #expect(request.body.isEmpty)
    }

    @Test("a head trickled one byte at a time still parses")
    func trickled() {
        let raw = Self.post + "Content-Length: 5\r\n\r\nhello"
        let got = requests(raw.map { String($0) })
        #expect(got.count == 1)
        #expect(got.first?.body == Array("hello".utf8))
    }

    @Test("pipelined requests come out in order")
    func pipelined() {
        let raw = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n" + Self.post + "Content-Length: 3\r\n\r\nabc" +
            "DELETE /c HTTP/1.1\r\nHost: x\r\n\r\n"
        #expect(requests([raw]).map(\.target) == ["/a", "/fhir/MedicationDispense/_search", "/c"])
    }

    @Test("a chunked body is decoded, extensions ignored")
    func chunked() {
        let raw = Self.post + "Transfer-Encoding: chunked\r\n\r\n4;x=y\r\nabcd\r\nA\r\n0123456789\r\n0\r\n\r\n"
        #expect(requests([raw]).first?.body == Array("abcd0123456789".utf8))
        #expect(requests(raw.map { String($0) }).first?.body == Array("abcd0123456789".utf8))
    }

    @Test("keep-alive follows the version and Connection tokens")
    func keepAlive() {
        func alive(_ raw: String) -> Bool? {
            decode([raw]).compactMap { if case .request(_, let k) = $0 { k } else { nil } }.first
        }
        #expect(alive("GET / HTTP/1.1\r\nHost: x\r\n\r\n") == true)
        #expect(alive("GET / HTTP/1.1\r\nHost: x\r\nConnection: foo, close\r\n\r\n") == false)
        #expect(alive("GET / HTTP/1.0\r\n\r\n") == false)
        #expect(alive("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n") == true)
    }

    @Test("Expect: 100-continue asks for a 100 before the body")
    func expectContinue() {
        let events = decode([Self.post + "Content-Length: 3\r\nExpect: 100-continue\r\n\r\n", "abc"])
        guard events.count == 2, case .sendContinue = events[0], case .request(let r, _) = events[1] else {
            Issue.record("unexpected events \(events)")
            return
        }
        #expect(r.body == Array("abc".utf8))
        #expect(status(Self.post + "Content-Length: 3\r\nExpect: something\r\n\r\nabc") == 417)
    }

    // SMG-01
    @Test("Content-Length together with Transfer-Encoding is refused", arguments: [
        "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n",
    ])
    func clAndTE(_ headers: String) {
        #expect(status(Self.post + headers + "\r\n4\r\nabcd\r\n0\r\n\r\n") == 400)
    }

    // SMG-01 obfuscations
    @Test("any Transfer-Encoding other than exactly chunked is refused", arguments: [
        "Transfer-Encoding: chunked, identity", "Transfer-Encoding: identity", "Transfer-Encoding: gzip, chunked",
        "Transfer-Encoding: xchunked", "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
        "Transfer-Encoding: Chunked", "Transfer-Encoding : chunked", "Transfer-Encoding:\u{0B}chunked",
        "Transfer-Encoding: \"chunked\"", "Transfer_Encoding: chunked\r\nTransfer-Encoding: x",
    ])
    func obfuscatedTE(_ header: String) {
        #expect(status(Self.post + header + "\r\n\r\n0\r\n\r\n") == 400)
    }

    @Test("Transfer-Encoding on HTTP/1.0 is refused")
    func teOnHTTP10() {
        #expect(status("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n") == 400)
    }

    // SMG-03
    @Test("duplicate, list or malformed Content-Length is refused", arguments: [
        "Content-Length: 16\r\nContent-Length: 60", "Content-Length: 16, 60", "Content-Length: +16",
        "Content-Length: 0x10", "Content-Length: 16 junk", "Content-Length: -1",
        "Content-Length: 99999999999999999999999", "Content-Length: 16\r\nContent-Length: 16", "Content-Length:",
    ])
    func badContentLength(_ header: String) {
        #expect(status(Self.post + header + "\r\n\r\n0123456789abcdef") == 400)
    }

    // SMG-04
    @Test("bodies on GET, HEAD, DELETE and OPTIONS are refused", arguments: ["GET", "HEAD", "DELETE", "OPTIONS"])
    func bodilessMethods(_ method: String) {
        let smuggled = "GET /fhir/Patient/pt-bob HTTP/1.1\r\nHost: x\r\n\r\n"
        let chunk = String(smuggled.utf8.count, radix: 16)
        let te = "\(method) /fhir/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "\(chunk)\r\n\(smuggled)\r\n0\r\n\r\n"
        #expect(status(te) == 400)
        let cl = "\(method) /fhir/metadata HTTP/1.1\r\nHost: x\r\n"
            + "Content-Length: \(smuggled.utf8.count)\r\n\r\n\(smuggled)"
        let events = decode([cl])
        #expect(events.count == 1)
        if case .failed(let e) = events.first { #expect(e.status == 400) } else { Issue.record("not refused") }
    }

    @Test("Content-Length: 0 on a GET is fine")
    func zeroLengthGet() {
        #expect(requests(["GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"]).count == 1)
    }

    @Test("line syntax violations are refused", arguments: [
        ("bare LF in headers", "GET / HTTP/1.1\nHost: x\n\n"),
        ("bare LF after a header", "GET / HTTP/1.1\r\nHost: x\n\r\n"),
        ("bare CR", "GET / HTTP/1.1\r\nHost: x\rY: z\r\n\r\n"),
        ("obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n"),
        ("obs-fold with tab", "GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n\tc\r\n\r\n"),
        ("NUL in value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: b\u{0}c\r\n\r\n"),
        ("control char in value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: b\u{1B}c\r\n\r\n"),
        ("DEL in value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: b\u{7F}\r\n\r\n"),
        ("space before colon", "GET / HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n"),
        ("invalid name char", "GET / HTTP/1.1\r\nHost: x\r\nX(A): b\r\n\r\n"),
        ("empty name", "GET / HTTP/1.1\r\nHost: x\r\n: b\r\n\r\n"),
        ("no colon", "GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n"),
        ("NUL in target", "GET /a\u{0}b HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("double space", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("invalid UTF-8 in value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: \u{FFFD}\r\n\r\n"),
    ])
    func lineSyntax(_ name: String, _ raw: String) {
        var bytes = Array(raw.utf8)
        if name.contains("UTF-8") { bytes = bytes.map { $0 == 0xEF ? 0xC3 : $0 == 0xBF ? 0x28 : $0 } }
        var decoder = HTTP1RequestDecoder(limits: HTTPServerLimits())
        var buffer = ByteAccumulator()
        buffer.append(bytes)
        let event = decoder.next(&buffer)
        guard case .failed(let error) = event else {
            Issue.record("\(name) was accepted: \(event)")
            return
        }
        #expect(error.status == 400, "\(name)")
    }

    @Test("Upgrade and HTTP2-Settings are refused (h2c smuggling)", arguments: [
        "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nConnection: Upgrade, HTTP2-Settings",
        "Upgrade: websocket\r\nConnection: Upgrade", "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA",
        "Upgrade: h2c",
    ])
    func upgrade(_ headers: String) {
        #expect(status("GET /fhir/metadata HTTP/1.1\r\nHost: x\r\n\(headers)\r\n\r\n") == 400)
    }

    @Test("methods: known-but-refused 405, unknown 501, lowercase 400", arguments: [
        ("TRACE /fhir/metadata", 405), ("CONNECT gw.example:443", 405), ("PROPFIND /fhir/", 405),
        ("FOO /fhir", 501), ("BREW /fhir", 501), ("get /fhir/Patient/pt-alice", 400), ("Get /", 400),
        ("G(T /", 400),
    ])
    func methods(_ line: String, _ expected: Int) {
        #expect(status("\(line) HTTP/1.1\r\nHost: x\r\n\r\n") == expected)
    }

    @Test("allowed methods pass", arguments: ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
    func allowedMethods(_ method: String) {
        #expect(requests(["\(method) /fhir HTTP/1.1\r\nHost: x\r\n\r\n"]).first?.method == method)
    }

    @Test("only origin-form targets are accepted", arguments: [
        "GET http://upstream.internal/fhir/Patient HTTP/1.1", "GET gw.example:8443 HTTP/1.1",
        "OPTIONS * HTTP/1.1", "GET fhir/Patient HTTP/1.1", "GET /fhir#frag HTTP/1.1",
    ])
    func targets(_ line: String) {
        #expect(status("\(line)\r\nHost: x\r\n\r\n") == 400)
    }

    @Test("versions other than 1.0 and 1.1 get 505, malformed ones 400", arguments: [
        ("HTTP/2.0", 505), ("HTTP/1.2", 505), ("HTTP/0.9", 505), ("HTTP/3.0", 505),
        ("HTTP/1.10", 400), ("HTTP/1", 400), ("http/1.1", 400), ("HTTP/1.1x", 400),
    ])
    func versions(_ version: String, _ expected: Int) {
        #expect(status("GET / \(version)\r\nHost: x\r\n\r\n") == expected)
    }

    @Test("Host is required once and well formed; underscore names are refused", arguments: [
        "GET / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: user@evil\r\n\r\n", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost:\r\n\r\n", "GET / HTTP/1.1\r\nHost: x\r\nX_Forwarded_For: 10.0.0.1\r\n\r\n",
    ])
    func host(_ raw: String) {
        #expect(status(raw) == 400)
    }

    @Test("HTTP/1.0 without Host is fine")
    func http10NoHost() {
        #expect(requests(["GET / HTTP/1.0\r\n\r\n"]).first?.version == .http1_0)
    }

    // HDR-05
    @Test("a request line over the limit gets 414")
    func longRequestLine() {
        let query = String(repeating: "a", count: 100 * 1024)
        #expect(status("GET /fhir/Patient?q=\(query) HTTP/1.1\r\nHost: x\r\n\r\n") == 414)
        let exact = HTTPServerLimits(maxRequestLineBytes: 20)
        #expect(status("GET /123456 HTTP/1.1\r\nHost: x\r\n\r\n", limits: exact) == nil)
        #expect(status("GET /1234567 HTTP/1.1\r\nHost: x\r\n\r\n", limits: exact) == 414)
    }

    @Test("a header block or header count over the limit gets 431")
    func headerLimits() {
        let cookie = "Cookie: " + String(repeating: "c", count: 64 * 1024) + "\r\n"
        #expect(status("GET / HTTP/1.1\r\nHost: x\r\n\(cookie)\r\n") == 431)
        let many = (0..<5000).map { "X-\($0): b\r\n" }.joined()
        #expect(status("GET / HTTP/1.1\r\nHost: x\r\n\(many)\r\n") == 431)
        let hundred = (0..<99).map { "X-\($0): b\r\n" }.joined()
        #expect(status("GET / HTTP/1.1\r\nHost: x\r\n\(hundred)\r\n") == nil)
        #expect(status("GET / HTTP/1.1\r\nHost: x\r\nY: z\r\n\(hundred)\r\n") == 431)
    }

    @Test("a body over the limit gets 413, by length or while chunked")
    func bodyLimit() {
        let limits = HTTPServerLimits(maxBodyBytes: 10)
        #expect(status(Self.post + "Content-Length: 11\r\n\r\n", limits: limits) == 413)
        #expect(status(Self.post + "Content-Length: 10\r\n\r\n0123456789", limits: limits) == nil)
        let chunked = Self.post + "Transfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n6\r\nabcdef\r\n0\r\n\r\n"
        #expect(status(chunked, limits: limits) == 413)
    }

    @Test("strict chunk framing", arguments: [
        "4\r\nabcdXX0\r\n\r\n", "4 \r\nabcd\r\n0\r\n\r\n", "4\nabcd\n0\n\n", "\r\n", "-4\r\nabcd\r\n0\r\n\r\n",
        "fffffffffffffffff\r\n", "0\r\nX-Trailer: a\r\n\r\n", "4\r\nabcd\r\n0\r\n\rX", "0x4\r\nabcd\r\n0\r\n\r\n",
    ])
    func strictChunks(_ body: String) {
        #expect(status(Self.post + "Transfer-Encoding: chunked\r\n\r\n" + body) == 400)
    }

    @Test("after a framing error nothing more is parsed")
    func stopsAfterError() {
        let events = decode(["GET / HTTP/1.1\nHost: x\n\nGET /second HTTP/1.1\r\nHost: x\r\n\r\n"])
        #expect(events.count == 1)
    }
}

@Suite("HTTP/1.1 method override")
struct MethodOverrideTests {
    // PATH-05
    @Test("method override headers are refused", arguments: [
        "X-HTTP-Method-Override: DELETE", "X-HTTP-Method: DELETE", "x-method-override: PUT",
    ])
    func overrides(_ header: String) {
        var decoder = HTTP1RequestDecoder(limits: HTTPServerLimits())
        var buffer = ByteAccumulator()
        buffer.append(Array("GET /fhir/MedicationRequest/mr-alice-1 HTTP/1.1\r\nHost: x\r\n\(header)\r\n\r\n".utf8))
        guard case .failed(let error) = decoder.next(&buffer) else {
            Issue.record("accepted")
            return
        }
        #expect(error.status == 400)
    }
}
