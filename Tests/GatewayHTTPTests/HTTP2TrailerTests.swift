// HTTP/2 request trailers at the connection (issue #3 item 1): a trailer section is checked like a header
// block and then dropped; one the header block would have been refused for refuses the request the same
// way (never a stream left unanswered); its size is bounded per section (RFC 9113 §6.5.2).

import GatewayTesting
import Testing
@testable import GatewayHTTP

@Suite("HTTP/2 request trailers")
struct HTTP2TrailerTests {
    static let body = Array("hello".utf8)

    /// POST headers without END_STREAM, a DATA frame, then `trailers` with END_STREAM.
    static func post(_ trailers: [(String, String)], headerExtra: [(String, String)] = []) -> [UInt8] {
        let fields = H2.requestFields(method: "POST", path: "/fhir/Patient", extra: [("te", "trailers")] + headerExtra)
        return H2.clientStart + H2.headers(stream: 1, fields, endStream: false)
            + H2.data(stream: 1, body, endStream: false) + H2.headers(stream: 1, trailers)
    }

    static func ended(_ frames: [H2Frame]) -> Bool {
        frames.contains { ($0.type == 0x0 || $0.type == 0x1) && $0.flags & 1 != 0 || $0.type == 0x3 }
    }

    @Test("trailers are accepted and dropped: the handler gets the request and its body once")
    func dropped() async throws {
        let view = try #require(await h2Exchange(
            [Self.post([("x-checksum", "abc"), ("grpc-status", "0")])], until: Self.ended))
        #expect(view.handled == ["POST /fhir/Patient"])
        #expect(view.bodies == [5])
        #expect(view.status(1) == "200")
        #expect(view.resetCode(1) == nil)
    }

    @Test("a trailer the header block would be refused for refuses the request with the same status",
          arguments: [("x-http-method-override", "DELETE"), ("x_forwarded_for", "10.0.0.1")])
    func refusedField(name: String, value: String) async throws {
        let view = try #require(await h2Exchange([Self.post([(name, value)])], until: Self.ended))
        #expect(view.status(1) == "400", "\(name)")
        #expect(view.handled.isEmpty)
    }

    @Test("malformed trailers (pseudo-header, uppercase, connection-specific) are PROTOCOL_ERROR",
          arguments: [(":path", "/x"), ("X-Upper", "1"), ("connection", "close")])
    func malformed(name: String, value: String) async throws {
        let view = try #require(await h2Exchange([Self.post([(name, value)])], until: Self.ended))
        #expect(view.resetCode(1) == protocolError, "\(name)")
        #expect(view.handled.isEmpty)
    }

    @Test("the header list limit applies to the trailer section on its own: 431 over it, accepted under it")
    func listSize() async throws {
        let limits = HTTP2Limits(maxHeaderListBytes: 1024)
        let half = String(repeating: "a", count: 600)
        // Header block and trailer section each under 1 KiB, together over it: accepted.
        let both = try #require(await h2Exchange(
            [Self.post([("x-t", half)], headerExtra: [("x-h", half)])], http2: limits, until: Self.ended))
        #expect(both.handled == ["POST /fhir/Patient"])
        let big = try #require(await h2Exchange(
            [Self.post([("x-t", half + half)])], http2: limits, until: Self.ended))
        #expect(big.status(1) == "431")
        #expect(big.handled.isEmpty)
    }
}
