import Testing
@testable import GatewayHTTP

/// Decodes a raw response to a request with `method`, collecting status, body and the end/failure.
private func decodeResponse(_ pieces: [String], method: String = "GET", close: Bool = false)
    -> (status: Int?, body: String, end: Bool?, failure: String?, heads: Int)
{
    var decoder = HTTP1ResponseDecoder()
    decoder.expectResponse(to: method)
    var buffer = ByteAccumulator()
    var status: Int?, body: [UInt8] = [], end: Bool?, failure: String?, heads = 0
    func handle(_ event: ResponseDecoderEvent) -> Bool {
        switch event {
        case .needMore: return false
        case .head(let h): status = h.status; heads += 1
        case .body(let b): body += b
        case .end(let r): end = r; return false
        case .failed(let m): failure = m; return false
        }
        return true
    }
    for piece in pieces {
        buffer.append(Array(piece.utf8))
        while handle(decoder.next(&buffer)) {}
    }
    if close { _ = handle(decoder.connectionClosed()) }
    return (status, String(decoding: body, as: UTF8.self), end, failure, heads)
}

@Suite("HTTP/1.1 upstream response framing")
struct HTTP1ResponseDecoderTests {
    @Test("content-length body, keep-alive")
    func contentLength() {
        let r = decodeResponse(["HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", "lo"])
        #expect(r.status == 200 && r.body == "hello" && r.end == true && r.failure == nil)
    }

    @Test("chunked body with trailers, split anywhere")
    func chunked() {
        let raw = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n"
        let r = decodeResponse(raw.map { String($0) })
        #expect(r.body == "abcde" && r.end == true)
    }

    @Test("no length means the body runs to the close, and the connection is not reused")
    func closeDelimited() {
        let r = decodeResponse(["HTTP/1.1 200 OK\r\n\r\nsome", " bytes"], close: true)
        #expect(r.body == "some bytes" && r.end == false)
    }

    @Test("1xx interim responses are skipped")
    func interim() {
        let r = decodeResponse(["HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
            + "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"])
        #expect(r.status == 201 && r.heads == 1 && r.body == "ok")
    }

    @Test("HEAD, 204 and 304 have no body whatever the headers say")
    func bodyless() {
        #expect(decodeResponse(["HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n"], method: "HEAD").end == true)
        #expect(decodeResponse(["HTTP/1.1 204 No Content\r\n\r\n"]).end == true)
        #expect(decodeResponse(["HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n"]).end == true)
    }

    @Test("Connection: close and HTTP/1.0 responses are not reusable")
    func notReusable() {
        #expect(decodeResponse(["HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"]).end == false)
        #expect(decodeResponse(["HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"]).end == false)
    }

    @Test("ambiguous framing is an invalid response", arguments: [
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX",
        "HTTP/1.1 200 OK\nContent-Length: 0\n\n",
        "HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
        "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
        "garbage\r\n\r\n",
    ])
    func invalid(_ raw: String) {
        #expect(decodeResponse([raw]).failure != nil)
    }

    @Test("a response cut short is a failure")
    func truncated() {
        let r = decodeResponse(["HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"], close: true)
        #expect(r.failure != nil && r.end == nil)
    }

    @Test("bytes after a complete response are refused on the next read")
    func unsolicited() {
        var decoder = HTTP1ResponseDecoder()
        decoder.expectResponse(to: "GET")
        var buffer = ByteAccumulator()
        buffer.append(Array("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n".utf8))
        #expect(decoder.next(&buffer) != .needMore)  // head
        #expect(decoder.next(&buffer) == .end(reusable: true))
        if case .failed = decoder.next(&buffer) {} else { Issue.record("unsolicited bytes accepted") }
    }
}
