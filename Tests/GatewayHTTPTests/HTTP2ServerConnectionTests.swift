// HTTP2ServerConnection over an in-memory stream pair, driven by hand-written frames: requests reach the
// handler as the one request model, malformed messages are stream errors the handler never sees
// (SMG-06), and every flood limit ends the connection with GOAWAY ENHANCE_YOUR_CALM (DOS-02).

import GatewayTesting
import GatewayCore
import GatewayIO
import Testing
@testable import GatewayHTTP

/// What the raw client saw and what the handler received.
struct H2View: Sendable {
    var frames: [H2Frame]
    var closed: Bool
    var handled: [String]
    var hosts: [String?]
    var versions: [String]
    var bodies: [Int]

    func frames(type: UInt8, stream: UInt32? = nil) -> [H2Frame] {
        frames.filter { $0.type == type && (stream == nil || $0.stream == stream) }
    }

    var goawayCode: UInt32? { frames(type: 0x7).last?.errorCode }

    func resetCode(_ stream: UInt32) -> UInt32? { frames(type: 0x3, stream: stream).first?.errorCode }

    /// Decoded response header blocks, by stream (HPACK state runs over the whole connection).
    var responseHeaders: [UInt32: [(String, String)]] {
        let decoder = H2HeaderDecoder()
        var out: [UInt32: [(String, String)]] = [:]
        for frame in frames where frame.type == 0x1 { out[frame.stream] = decoder.decode(frame.payload) }
        return out
    }

    func status(_ stream: UInt32) -> String? { responseHeaders[stream]?.first { $0.0 == ":status" }?.1 }

    func body(_ stream: UInt32) -> String {
        String(decoding: frames(type: 0x0, stream: stream).flatMap(\.payload), as: UTF8.self)
    }
}

final class H2Collector: ByteStreamDelegate {
    var received: [UInt8] = []
    var closed = false
    let until: ([H2Frame]) -> Bool
    var onDone: (() -> Void)?

    init(until: @escaping ([H2Frame]) -> Bool) { self.until = until }

    func streamDidRead(_ stream: any ByteStream, bytes: UnsafeRawBufferPointer) {
        received.append(contentsOf: bytes)
        if until(H2.parse(received)) { onDone?() }
    }

    func streamDidClose(_ stream: any ByteStream, error: (any Error)?) {
        closed = true
        onDone?()
    }

    func streamDidDrain(_ stream: any ByteStream) {}
}

/// Starts a server connection on an in-memory pair, writes `steps` (each after `gapMs`), and reports
/// once the server closed, `until` matched, or `waitMs` passed after the last write.
func h2Exchange(
    _ steps: [[UInt8]], gapMs: UInt64 = 0, limits: HTTPServerLimits = HTTPServerLimits(),
    http2: HTTP2Limits = HTTP2Limits(), mode: HandlerMode = .echo, drainAfterMs: UInt64? = nil, waitMs: UInt64 = 300,
    until: @escaping @Sendable ([H2Frame]) -> Bool = { _ in false }
) async -> H2View? {
    let signal = Signal<H2View>()
    TestLoop.loop.execute {
        let (client, server) = InMemoryByteStreamPair.make(on: TestLoop.loop)
        let handler = RecordingHandler(mode: mode)
        let connection = HTTP2ServerConnection(
            stream: server, handler: handler, limits: limits, http2: http2, connectionID: 7,
            metrics: MetricsRegistry())
        let collector = H2Collector(until: until)
        var reported = false
        let report = {
            guard !reported else { return }
            reported = true
            let view = H2View(
                frames: H2.parse(collector.received), closed: collector.closed,
                handled: handler.requests.map { "\($0.method) \($0.target)" },
                hosts: handler.requests.map { $0.headers["host"] },
                versions: handler.requests.map { $0.version.description },
                bodies: handler.requests.map { $0.body.count })
            client.close()
            signal.fulfill(view)
        }
        collector.onDone = report
        client.delegate = collector
        connection.start()
        var delay: UInt64 = 0
        for step in steps {
            if gapMs == 0 {
                client.write(step)
            } else {
                _ = TestLoop.loop.schedule(afterMilliseconds: delay) { client.write(step) }
                delay += gapMs
            }
        }
        if let drainAfterMs {
            _ = TestLoop.loop.schedule(afterMilliseconds: drainAfterMs) { connection.drain() }
        }
        _ = TestLoop.loop.schedule(afterMilliseconds: delay + waitMs) { report() }
    }
    return await signal.wait(seconds: 20)
}

let protocolError: UInt32 = 0x1
let enhanceYourCalm: UInt32 = 0xb

@Suite("HTTP/2 server connection")
struct HTTP2ServerConnectionTests {
    @Test("a GET over h2 reaches the handler as an HTTP/2 request with Host taken from :authority")
    func simpleGet() async throws {
        let view = try #require(await h2Exchange(
            [H2.clientStart + H2.headers(stream: 1, H2.requestFields(extra: [("accept", "application/fhir+json")]))],
            until: { frames in frames.contains { $0.type == 0x0 && $0.flags & 1 != 0 } }))
        #expect(view.handled == ["GET /fhir/metadata"])
        #expect(view.versions == ["HTTP/2"])
        #expect(view.hosts == ["gw.example:8443"])
        #expect(view.status(1) == "200")
        #expect(view.body(1) == "ok GET /fhir/metadata 0\n")
        #expect(view.responseHeaders[1]?.contains { $0.0 == "content-length" && $0.1 == "24" } == true)
    }

    @Test("a request body is buffered and delivered whole")
    func postBody() async throws {
        let body = [UInt8](repeating: 0x61, count: 5000)
        let fields = H2.requestFields(method: "POST", path: "/fhir/Patient", extra: [("content-length", "5000")])
        let view = try #require(await h2Exchange(
            [H2.clientStart + H2.headers(stream: 1, fields, endStream: false) + H2.data(stream: 1, body)],
            until: { frames in frames.contains { $0.type == 0x0 && $0.flags & 1 != 0 } }))
        #expect(view.bodies == [5000])
        #expect(view.versions == ["HTTP/2"])
        #expect(view.body(1) == "ok POST /fhir/Patient 5000\n")
    }

    @Test("a streamed response without a length is framed by DATA frames and ends the stream")
    func streamedResponse() async throws {
        let view = try #require(await h2Exchange(
            [H2.clientStart + H2.headers(stream: 1, H2.requestFields())], mode: .stream(["one ", "two ", "three"]),
            until: { frames in frames.contains { $0.type == 0x0 && $0.flags & 1 != 0 } }))
        #expect(view.body(1) == "one two three")
        #expect(view.responseHeaders[1]?.contains { $0.0 == "content-length" } == false)
    }

    // SMG-06: RFC 9113 §8.2.2 connection-specific fields and §8.2.1 field syntax.
    static let malformed: [(String, String)] = [
        ("transfer-encoding", "chunked"), ("connection", "keep-alive"), ("keep-alive", "timeout=5"),
        ("proxy-connection", "keep-alive"), ("upgrade", "h2c"), ("te", "gzip"), ("X-Upper", "1"),
        ("x-cr", "a\rb"), ("x-lf", "a\nb"), ("x-nul", "a\u{0}b"), ("x-space", " padded"),
    ]

    @Test("malformed requests are reset with PROTOCOL_ERROR and never reach the handler (SMG-06)",
          arguments: malformed.indices)
    func malformedRequest(index: Int) async throws {
        let field = Self.malformed[index]
        let fields = H2.requestFields(path: "/fhir/MedicationDispense?patient=pt-alice", extra: [field])
        let view = try #require(await h2Exchange(
            [H2.clientStart + H2.headers(stream: 1, fields)],
            until: { frames in frames.contains { $0.type == 0x3 } }))
        #expect(view.resetCode(1) == protocolError, "field \(field.0)")
        #expect(view.handled.isEmpty, "field \(field.0)")
        #expect(view.frames(type: 0x1, stream: 1).isEmpty)
    }

    @Test("te: trailers is allowed and answered (SMG-06 control)")
    func teTrailers() async throws {
        let fields = H2.requestFields(path: "/fhir/MedicationDispense?patient=pt-alice", extra: [("te", "trailers")])
        let view = try #require(await h2Exchange(
            [H2.clientStart + H2.headers(stream: 1, fields)],
            until: { frames in frames.contains { $0.type == 0x0 && $0.flags & 1 != 0 } }))
        #expect(view.status(1) == "200")
        #expect(view.handled == ["GET /fhir/MedicationDispense?patient=pt-alice"])
    }

    @Test("content-length disagreeing with the DATA received is a stream error", arguments: [(10, 5), (2, 5)])
    func contentLengthMismatch(declared: Int, sent: Int) async throws {
        let fields = H2.requestFields(
            method: "POST", path: "/fhir/Patient", extra: [("content-length", String(declared))])
        let view = try #require(await h2Exchange(
            [H2.clientStart + H2.headers(stream: 1, fields, endStream: false)
                + H2.data(stream: 1, [UInt8](repeating: 0x62, count: sent))],
            until: { frames in frames.contains { $0.type == 0x3 } }))
        #expect(view.resetCode(1) == protocolError)
        #expect(view.handled.isEmpty)
    }

    @Test("a malformed stream does not disturb the next one on the same connection")
    func malformedThenValid() async throws {
        let bad = H2.headers(stream: 1, H2.requestFields(extra: [("connection", "close")]))
        let good = H2.headers(stream: 3, H2.requestFields(path: "/fhir/Patient/pt-alice"))
        let view = try #require(await h2Exchange(
            [H2.clientStart + bad + good],
            until: { frames in frames.contains { $0.type == 0x0 && $0.stream == 3 && $0.flags & 1 != 0 } }))
        #expect(view.resetCode(1) == protocolError)
        #expect(view.handled == ["GET /fhir/Patient/pt-alice"])
    }

    @Test("HEADERS immediately cancelled in the same read never reach the handler; rapid reset ends in GOAWAY (DOS-02)")
    func rapidResetBatched() async throws {
        var attack = H2.clientStart
        for i in 0..<200 {
            let id = UInt32(2 * i + 1)
            attack += H2.headers(stream: id, H2.requestFields(path: "/fhir/MedicationDispense?patient=pt-alice"))
            attack += H2.rst(stream: id)
        }
        let view = try #require(await h2Exchange([attack], mode: .hang, until: { $0.contains { $0.type == 0x7 } }))
        #expect(view.goawayCode == enhanceYourCalm)
        #expect(view.handled.isEmpty)
    }

    @Test("resets spread over reads cost at most the reset limit in dispatched requests (DOS-02)")
    func rapidResetSpread() async throws {
        let limit = 10
        var steps: [[UInt8]] = [H2.clientStart]
        for i in 0..<40 {
            let id = UInt32(2 * i + 1)
            steps.append(H2.headers(stream: id, H2.requestFields(path: "/fhir/MedicationDispense?patient=pt-alice")))
            steps.append(H2.rst(stream: id))
        }
        let view = try #require(await h2Exchange(
            steps, gapMs: 2, http2: HTTP2Limits(maxResetsPerSecond: limit), mode: .hang, waitMs: 200))
        #expect(view.goawayCode == enhanceYourCalm)
        #expect(view.handled.count <= limit + 1)
        #expect(view.closed)
    }

    @Test("too many CONTINUATION frames end the connection with ENHANCE_YOUR_CALM")
    func continuationFlood() async throws {
        var bytes = H2.clientStart + H2.headers(stream: 1, H2.requestFields(), endHeaders: false)
        for _ in 0..<20 { bytes += H2.continuation(stream: 1, H2.block([("x-a", "b")]), endHeaders: false) }
        let view = try #require(await h2Exchange(
            [bytes], http2: HTTP2Limits(maxContinuationFrames: 4), until: { $0.contains { $0.type == 0x7 } }))
        #expect(view.goawayCode == enhanceYourCalm)
        #expect(view.handled.isEmpty)
    }

    @Test("a few CONTINUATION frames within the limit are accepted")
    func continuationWithinLimit() async throws {
        let block = H2.block(H2.requestFields())
        let bytes = H2.clientStart
            + H2.frame(0x1, flags: 0x1, stream: 1, Array(block[..<10]))
            + H2.continuation(stream: 1, Array(block[10..<20]), endHeaders: false)
            + H2.continuation(stream: 1, Array(block[20...]), endHeaders: true)
        let view = try #require(await h2Exchange(
            [bytes], until: { frames in frames.contains { $0.type == 0x0 && $0.flags & 1 != 0 } }))
        #expect(view.handled == ["GET /fhir/metadata"])
    }

    @Test("PING and SETTINGS floods end the connection with ENHANCE_YOUR_CALM", arguments: [true, false])
    func controlFrameFlood(ping: Bool) async throws {
        var bytes = H2.clientStart
        for i in 0..<30 { bytes += ping ? H2.ping(UInt8(i)) : H2.settings() }
        let view = try #require(await h2Exchange([bytes], until: { $0.contains { $0.type == 0x7 } }))
        #expect(view.goawayCode == enhanceYourCalm)
    }

    @Test("a header list over the limit is answered 431 without reaching the handler")
    func headerListTooLarge() async throws {
        let big = String(repeating: "v", count: 3000)
        let fields = H2.requestFields(extra: [("x-big", big)])
        let view = try #require(await h2Exchange(
            [H2.clientStart + H2.headers(stream: 1, fields)], http2: HTTP2Limits(maxHeaderListBytes: 2048),
            until: { frames in frames.contains { $0.type == 0x1 } }))
        #expect(view.status(1) == "431")
        #expect(view.handled.isEmpty)
    }

    @Test("a body over the limit is answered 413 and the handler sees nothing")
    func bodyTooLarge() async throws {
        let fields = H2.requestFields(method: "POST", path: "/fhir/Patient")
        let view = try #require(await h2Exchange(
            [H2.clientStart + H2.headers(stream: 1, fields, endStream: false)
                + H2.data(stream: 1, [UInt8](repeating: 1, count: 3000), endStream: false)],
            limits: HTTPServerLimits(maxBodyBytes: 1000), until: { frames in frames.contains { $0.type == 0x1 } }))
        #expect(view.status(1) == "413")
        #expect(view.handled.isEmpty)
    }

    @Test("streams beyond SETTINGS_MAX_CONCURRENT_STREAMS are refused")
    func concurrencyLimit() async throws {
        var bytes = H2.clientStart + H2.settingsAck
        for i in 0..<4 { bytes += H2.headers(stream: UInt32(2 * i + 1), H2.requestFields()) }
        let view = try #require(await h2Exchange(
            [bytes], http2: HTTP2Limits(maxConcurrentStreams: 2), mode: .hang, waitMs: 200))
        #expect(view.handled.count == 2)
        // nghttp2 refuses the stream (REFUSED_STREAM) or, once the limit was acknowledged, the connection.
        #expect(view.resetCode(5) == 0x7 || view.goawayCode == protocolError)
    }

    @Test("drain sends GOAWAY, lets the in-flight stream finish, then closes")
    func drainFinishesInFlight() async throws {
        let view = try #require(await h2Exchange(
            [H2.clientStart + H2.headers(stream: 1, H2.requestFields())], mode: .delayed(80), drainAfterMs: 20,
            waitMs: 2000))
        #expect(view.goawayCode == 0)
        #expect(view.status(1) == "200")
        #expect(view.closed)
        let goawayIndex = try #require(view.frames.firstIndex { $0.type == 0x7 })
        let headersIndex = try #require(view.frames.firstIndex { $0.type == 0x1 })
        #expect(goawayIndex < headersIndex)
    }

    @Test("an idle connection is closed with GOAWAY after the idle timeout")
    func idleTimeout() async throws {
        let view = try #require(await h2Exchange(
            [H2.clientStart], limits: HTTPServerLimits(idleTimeoutMs: 50), waitMs: 2000))
        #expect(view.goawayCode == 0)
        #expect(view.closed)
    }

    @Test("a header block left open past the header timeout ends the connection")
    func headerTimeout() async throws {
        let view = try #require(await h2Exchange(
            [H2.clientStart + H2.headers(stream: 1, H2.requestFields(), endHeaders: false)],
            limits: HTTPServerLimits(headerReadTimeoutMs: 50), waitMs: 2000))
        #expect(view.goawayCode == enhanceYourCalm)
        #expect(view.closed)
        #expect(view.handled.isEmpty)
    }

    @Test("request bodies get flow-control credit only within the connection budget, except the oldest stream")
    func requestFlowControl() async throws {
        let limits = HTTP2Limits(initialStreamWindowBytes: 8192, maxBufferedBodyBytes: 1000)
        let post = { (id: UInt32) in
            H2.headers(stream: id, H2.requestFields(method: "POST", path: "/fhir/Patient"), endStream: false)
                + H2.data(stream: id, [UInt8](repeating: 0x63, count: 5000), endStream: false)
        }
        let view = try #require(await h2Exchange(
            [H2.clientStart + H2.settingsAck + post(1) + post(3)], http2: limits, mode: .hang, waitMs: 200))
        #expect(!view.frames(type: 0x8, stream: 1).isEmpty)
        #expect(view.frames(type: 0x8, stream: 3).isEmpty)
        #expect(view.handled.isEmpty)
    }

    @Test("response bodies wait for flow-control credit and the responder reports backpressure")
    func responseFlowControl() async throws {
        // The client's stream window stays at 65,535: the flood handler fills it and must then stop.
        let view = try #require(await h2Exchange(
            [H2.clientStart + H2.headers(stream: 1, H2.requestFields())], mode: .flood, waitMs: 300))
        let delivered = view.frames(type: 0x0, stream: 1).reduce(0) { $0 + $1.payload.count }
        #expect(delivered == 65_535)
        #expect(!view.closed)
    }
}
