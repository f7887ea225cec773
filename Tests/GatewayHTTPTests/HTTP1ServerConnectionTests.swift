import Foundation
import GatewayCore
import Testing
@testable import GatewayHTTP

@Suite("HTTP/1.1 server connection")
struct HTTP1ServerConnectionTests {
    static let get = "GET /fhir/metadata HTTP/1.1\r\nHost: gw.example\r\n\r\n"

    @Test("a request is answered with Content-Length and Date, and the connection stays open")
    func simple() async throws {
        let view = try #require(await serverExchange([Self.get]) { $0.contains("\n\r\nok ") && $0.hasSuffix("\n") })
        #expect(view.text.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(view.text.contains("Content-Length: 24\r\n"))
        #expect(view.text.contains("Date: "))
        #expect(!view.text.contains("Connection: close"))
        #expect(view.text.hasSuffix("ok GET /fhir/metadata 0\n"))
        #expect(!view.closed)
    }

    @Test("pipelined requests are answered in order on one connection")
    func pipelining() async throws {
        let raw = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
            + "GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /never HTTP/1.1\r\nHost: x\r\n\r\n"
        let view = try #require(await serverExchange([raw]))
        #expect(view.handled == ["GET /a", "POST /b", "GET /c"])
        #expect(view.text.statusCodes == [200, 200, 200])
        let a = try #require(view.text.range(of: "ok GET /a 0"))
        let b = try #require(view.text.range(of: "ok POST /b 2"))
        let c = try #require(view.text.range(of: "ok GET /c 0"))
        #expect(a.lowerBound < b.lowerBound && b.lowerBound < c.lowerBound)
        #expect(view.text.contains("Connection: close"))
        #expect(view.closed)
    }

    @Test("HTTP/1.0 closes after the response unless keep-alive was asked for")
    func http10() async throws {
        let closing = try #require(await serverExchange(["GET / HTTP/1.0\r\n\r\n"]))
        #expect(closing.closed)
        #expect(closing.text.contains("Connection: close\r\n"))
        let kept = try #require(await serverExchange(["GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"]) {
            $0.hasSuffix("ok GET / 0\n")
        })
        #expect(!kept.closed)
        #expect(kept.text.contains("Connection: keep-alive\r\n"))
    }

    @Test("a streamed body without length is chunked on 1.1 and close-delimited on 1.0")
    func streaming() async throws {
        let chunked = try #require(await serverExchange([Self.get], mode: .stream(["abc", "defgh"])) {
            $0.hasSuffix("0\r\n\r\n")
        })
        #expect(chunked.text.contains("Transfer-Encoding: chunked\r\n"))
        #expect(chunked.text.hasSuffix("\r\n\r\n3\r\nabc\r\n5\r\ndefgh\r\n0\r\n\r\n"))
        let delimited = try #require(await serverExchange(
            ["GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"], mode: .stream(["abc", "defgh"])))
        #expect(delimited.closed)
        #expect(delimited.text.hasSuffix("Connection: close\r\n\r\nabcdefgh"))
        #expect(!delimited.text.contains("Transfer-Encoding"))
    }

    @Test("HEAD responses carry no body")
    func head() async throws {
        let view = try #require(await serverExchange(["HEAD /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"]))
        #expect(view.text.contains("Content-Length: 13\r\n"))
        #expect(view.text.hasSuffix("\r\n\r\n"))
    }

    @Test("Expect: 100-continue gets an interim response before the body")
    func expectContinue() async throws {
        let head = "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        let view = try #require(await serverExchange([head, "hello"], gapMs: 50) { $0.hasSuffix("ok POST /b 5\n") })
        #expect(view.text.hasPrefix("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"))
    }

    @Test("framing errors are answered, the connection closed, and the handler never called", arguments: [
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n", 400),
        ("TRACE / HTTP/1.1\r\nHost: x\r\n\r\n", 405),
        ("BREW / HTTP/1.1\r\nHost: x\r\n\r\n", 501),
        ("GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        ("GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n", 400),
        ("GET /fhir/metadata HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nGET /", 400),
    ])
    func framingErrors(_ raw: String, _ status: Int) async throws {
        let view = try #require(await serverExchange([raw + Self.get]))
        #expect(view.text.statusCodes == [status])
        #expect(view.text.contains("Connection: close\r\n"))
        #expect(view.closed)
        #expect(view.handled.isEmpty)
    }

    @Test("a trickled head is cut off at the total header deadline with 408 (DOS-01)")
    func slowloris() async throws {
        let limits = HTTPServerLimits(headerReadTimeoutMs: 300)
        // 1,000 pieces 50 ms apart would take 50 s; a deadline reset per byte would never fire before that.
        // The bound below only separates "cut off at the deadline" from "kept alive by the trickle", with a
        // wide margin for a loaded machine.
        let pieces = ["GET /fhir/metadata HTTP/1.1\r\nHost: x\r\n"] + Array(repeating: "X-a: b\r\n", count: 1000)
        let started = ContinuousClock.now
        let view = try #require(await serverExchange(pieces, limits: limits, gapMs: 50))
        let elapsed = ContinuousClock.now - started
        #expect(view.text.statusCodes == [408])
        #expect(view.closed)
        #expect(view.handled.isEmpty)
        #expect(elapsed < .seconds(45))
    }

    @Test("an idle keep-alive connection is closed silently")
    func idle() async throws {
        let limits = HTTPServerLimits(idleTimeoutMs: 200)
        let view = try #require(await serverExchange([Self.get], limits: limits))
        #expect(view.closed)
        #expect(view.text.statusCodes == [200])
    }

    @Test("a slow body hits the body deadline with 408")
    func slowBody() async throws {
        let limits = HTTPServerLimits(bodyReadTimeoutMs: 200)
        let partial = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab"
        let view = try #require(await serverExchange([partial], limits: limits))
        #expect(view.text.statusCodes == [408])
        #expect(view.handled.isEmpty)
    }

    @Test("drain closes an idle connection at once and a busy one after its response")
    func drain() async throws {
        let idle = try #require(await serverExchange([], drainAfterMs: 20))
        #expect(idle.closed)
        #expect(idle.text.isEmpty)
        let raw = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
        let busy = try #require(await serverExchange([raw], gapMs: 0, drainAfterMs: 50))
        #expect(busy.closed)
        #expect(busy.text.statusCodes == [200])
    }

    @Test("a handler answering later still gets pipelined requests in order")
    func asyncHandler() async throws {
        let raw = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        let view = try #require(await serverExchange([raw], mode: .delayed(20)))
        #expect(view.handled == ["GET /a", "GET /b"])
        #expect(view.text.statusCodes == [200, 200])
        #expect(view.closed)
    }

    @Test("the handler sees the connection id, the request number and the peer address")
    func context() async throws {
        let raw = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        let view = try #require(await serverExchange([raw], mode: .context))
        #expect(view.text.contains("ctx 1 1 127.0.0.1\n"))
        #expect(view.text.contains("ctx 1 2 127.0.0.1\n"))
    }

    @Test("response fields that could split the message or reframe it are not written")
    func responseHeaderHygiene() async throws {
        let view = try #require(await serverExchange([Self.get], mode: .headers([
            "X-Ok:fine", "X-Bad:a\r\nSet-Cookie: injected", "Transfer-Encoding:chunked", "Connection:upgrade",
            "Content-Length:999", "Bad Name:x",
        ])) { $0.hasSuffix("\r\n\r\n") })
        #expect(view.text.contains("X-Ok: fine\r\n"))
        #expect(!view.text.contains("injected"))
        #expect(!view.text.contains("Transfer-Encoding"))
        #expect(!view.text.contains("upgrade"))
        #expect(!view.text.contains("Bad Name"))
        #expect(view.text.contains("Content-Length: 0\r\n"))
    }

    @Test("204 and 304 carry neither body nor Content-Length", arguments: [204, 304])
    func noContent(_ status: Int) async throws {
        let view = try #require(await serverExchange([Self.get], mode: .status(status)) { $0.hasSuffix("\r\n\r\n") })
        #expect(view.text.statusCodes == [status])
        #expect(!view.text.contains("Content-Length"))
    }

    @Test("parse errors are counted by reason")
    func parseErrorMetric() async throws {
        let metrics = MetricsRegistry()
        _ = try #require(await serverExchange(["GET / HTTP/1.1\nHost: x\n\n"], metrics: metrics))
        _ = try #require(await serverExchange(["TRACE / HTTP/1.1\r\nHost: x\r\n\r\n"], metrics: metrics))
        let text = metrics.render()
        #expect(text.contains("gateway_http_parse_errors_total{reason=\"bare_lf\"} 1"))
        #expect(text.contains("gateway_http_parse_errors_total{reason=\"method_not_allowed\"} 1"))
    }

    @Test("drain during a slow response closes after it, with Connection: close")
    func drainBusy() async throws {
        let view = try #require(await serverExchange([Self.get], mode: .delayed(100), drainAfterMs: 30))
        #expect(view.closed)
        #expect(view.text.statusCodes == [200])
        #expect(view.text.contains("Connection: close\r\n"))
    }

    @Test("a client that stops reading a response is dropped after the write timeout")
    func writeTimeout() async throws {
        let limits = HTTPServerLimits(writeHighWatermarkBytes: 32 * 1024, writeTimeoutMs: 200)
        // Without the write timeout the exchange would never end and `serverExchange` would give up (nil).
        let view = try #require(await serverExchange([Self.get], limits: limits, mode: .flood, clientPaused: true))
        #expect(view.closed)
        #expect(view.closedWhileResponding == 1)
    }
}
