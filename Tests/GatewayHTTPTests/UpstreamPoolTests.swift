import GatewayTesting
import Foundation
import GatewayCore
import GatewayIO
import Testing
@testable import GatewayHTTP

/// One pool per test, made on the shared loop. `requests` are sent one after another (each after the
/// previous one completed); the outcomes come back in order.
private func run(
    _ requests: [HTTPRequest], port: Int, responseTimeoutMs: UInt64 = 2_000, maxBodyBytes: Int = 1 << 20,
    maxIdle: Int = 8
) async -> [UpstreamOutcome]? {
    let signal = Signal<[UpstreamOutcome]>()
    TestLoop.loop.execute {
        let pool = UpstreamPool(
            eventLoop: TestLoop.loop, host: "127.0.0.1", port: port, maxIdle: maxIdle, connectTimeoutMs: 1_000,
            responseTimeoutMs: responseTimeoutMs, idleTimeoutMs: 5_000, metrics: MetricsRegistry())
        var outcomes: [UpstreamOutcome] = []
        func next(_ index: Int) {
            guard index < requests.count else {
                pool.close()
                signal.fulfill(outcomes)
                return
            }
            pool.send(requests[index], maxBodyBytes: maxBodyBytes) { result in
                outcomes.append(result.outcome)
                next(index + 1)
            }
        }
        next(0)
    }
    return await signal.wait(seconds: 10)
}

private let ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

@Suite("Upstream pool", .serialized)
struct UpstreamPoolTests {
    @Test("the request is rebuilt: Host from config, computed Content-Length, no framing fields from the model")
    func serialisation() async throws {
        let upstream = try ScriptedUpstream { _, _ in .respond(ok) }
        defer { upstream.shutdown() }
        var post = HTTPRequest(method: "POST", target: "/fhir/Patient/_search", headers: HTTPHeaders([
            ("Host", "evil.example"), ("Content-Length", "999"), ("Transfer-Encoding", "chunked"),
            ("Connection", "close"), ("Content-Type", "application/x-www-form-urlencoded"),
        ]))
        post.body = Array("name=x".utf8)
        let get = HTTPRequest(method: "GET", target: "/fhir/metadata")
        let outcomes = try #require(await run([post, get], port: upstream.port))
        #expect(outcomes.map(\.status) == [200, 200])
        let seen = upstream.requests.map(\.text)
        #expect(seen[0] == "POST /fhir/Patient/_search HTTP/1.1\r\nHost: 127.0.0.1:\(upstream.port)\r\n"
            + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 6\r\n\r\nname=x")
        #expect(seen[1] == "GET /fhir/metadata HTTP/1.1\r\nHost: 127.0.0.1:\(upstream.port)\r\n\r\n")
    }

    @Test("keep-alive connections are reused")
    func reuse() async throws {
        let upstream = try ScriptedUpstream { _, _ in .respond(ok) }
        defer { upstream.shutdown() }
        let get = HTTPRequest(method: "GET", target: "/x")
        let outcomes = try #require(await run([get, get, get], port: upstream.port))
        #expect(outcomes.map(\.status) == [200, 200, 200])
        #expect(upstream.connections == 1)
    }

    @Test("chunked and close-delimited responses are decoded")
    func framings() async throws {
        let upstream = try ScriptedUpstream { index, _ in
            index == 0
                ? .respond("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
                : .respondAndClose("HTTP/1.1 200 OK\r\n\r\nuntil close")
        }
        defer { upstream.shutdown() }
        let get = HTTPRequest(method: "GET", target: "/x")
        let outcomes = try #require(await run([get, get], port: upstream.port))
        #expect(outcomes.map(\.body) == ["hello world", "until close"])
    }

    @Test("bad upstream framing is a 502", arguments: [
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\nok",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
        "HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
    ])
    func invalidResponse(_ raw: String) async throws {
        let upstream = try ScriptedUpstream { _, _ in .respond(raw) }
        defer { upstream.shutdown() }
        let outcomes = try #require(await run([HTTPRequest(method: "GET", target: "/x")], port: upstream.port))
        #expect(outcomes.first?.error?.kind == .invalidResponse)
        #expect(outcomes.first?.error?.status == 502)
    }

    @Test("an idempotent request that failed on a reused connection before any byte is retried once")
    func retryIdempotent() async throws {
        let upstream = try ScriptedUpstream { index, _ in index == 1 ? .close : .respond(ok) }
        defer { upstream.shutdown() }
        let get = HTTPRequest(method: "GET", target: "/x")
        let outcomes = try #require(await run([get, get], port: upstream.port))
        #expect(outcomes.map(\.status) == [200, 200])
        #expect(upstream.requests.map(\.connection) == [1, 1, 2])
    }

    @Test("a POST is never retried")
    func noRetryPost() async throws {
        let upstream = try ScriptedUpstream { index, _ in index == 1 ? .close : .respond(ok) }
        defer { upstream.shutdown() }
        let post = HTTPRequest(method: "POST", target: "/x", body: Array("a".utf8))
        let outcomes = try #require(await run([post, post], port: upstream.port))
        #expect(outcomes[0].status == 200)
        #expect(outcomes[1].error?.kind == .connectionClosed)
        #expect(outcomes[1].error?.status == 502)
        #expect(upstream.requests.count == 2)
    }

    @Test("a failure on a fresh connection is not retried")
    func noRetryFresh() async throws {
        let upstream = try ScriptedUpstream { _, _ in .close }
        defer { upstream.shutdown() }
        let outcomes = try #require(await run([HTTPRequest(method: "GET", target: "/x")], port: upstream.port))
        #expect(outcomes.first?.error?.kind == .connectionClosed)
        #expect(upstream.requests.count == 1)
    }

    @Test("a response timeout is a 504 and is never retried")
    func timeout() async throws {
        let upstream = try ScriptedUpstream { index, _ in index == 1 ? .hang : .respond(ok) }
        defer { upstream.shutdown() }
        let get = HTTPRequest(method: "GET", target: "/x")
        let outcomes = try #require(await run([get, get], port: upstream.port, responseTimeoutMs: 200))
        #expect(outcomes[1].error?.kind == .responseTimeout)
        #expect(outcomes[1].error?.status == 504)
        #expect(upstream.requests.count == 2)
    }

    @Test("a refused connection is a 502")
    func connectRefused() async throws {
        let upstream = try ScriptedUpstream { _, _ in .respond(ok) }
        let port = upstream.port
        upstream.shutdown()
        try await Task.sleep(for: .milliseconds(50))
        let outcomes = try #require(await run([HTTPRequest(method: "GET", target: "/x")], port: port))
        #expect(outcomes.first?.error?.kind == .connectFailed)
        #expect(outcomes.first?.error?.status == 502)
    }

    @Test("a buffered response over the limit fails and is not pooled")
    func tooLarge() async throws {
        let big = String(repeating: "x", count: 5000)
        let response = "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n\(big)"
        let upstream = try ScriptedUpstream { _, _ in .respond(response) }
        defer { upstream.shutdown() }
        let get = HTTPRequest(method: "GET", target: "/x")
        let outcomes = try #require(await run([get, get], port: upstream.port, maxBodyBytes: 1000))
        #expect(outcomes.map { $0.error?.kind } == [.responseTooLarge, .responseTooLarge])
        #expect(upstream.connections == 2)
    }
}

/// Streams a response to the test with a pause after the head, then resumes.
final class PausingHandler: UpstreamResponseHandler {
    var call: UpstreamCall?
    var events: [String] = []
    var onDone: (([String]) -> Void)?

    func didReceiveHead(_ head: HTTPResponseHead) {
        events.append("head \(head.status)")
        call?.pauseReading()
        _ = TestLoop.loop.schedule(afterMilliseconds: 100) { [self] in
            events.append("resume")
            call?.resumeReading()
        }
    }

    func didReceiveBody(_ chunk: [UInt8]) { events.append("body \(chunk.count)") }
    func didFinish() { events.append("finish"); onDone?(events) }
    func didFail(_ error: UpstreamError) { events.append("fail \(error.kind)"); onDone?(events) }
}

@Suite("Upstream backpressure", .serialized)
struct UpstreamBackpressureTests {
    @Test("a paused call gets no body until resumed, even when the upstream closed meanwhile")
    func pauseResume() async throws {
        let upstream = try ScriptedUpstream { _, _ in .respondAndClose("HTTP/1.1 200 OK\r\n\r\nclose-delimited body") }
        defer { upstream.shutdown() }
        let port = upstream.port
        let signal = Signal<[String]>()
        TestLoop.loop.execute {
            let pool = UpstreamPool(eventLoop: TestLoop.loop, host: "127.0.0.1", port: port, metrics: MetricsRegistry())
            let handler = PausingHandler()
            handler.onDone = { events in
                pool.close()
                signal.fulfill(events)
            }
            handler.call = pool.send(HTTPRequest(method: "GET", target: "/x"), handler: handler)
        }
        let events = try #require(await signal.wait(seconds: 5))
        #expect(events == ["head 200", "resume", "body 20", "finish"])
    }

    @Test("metrics: request duration observed and open connections counted")
    func metrics() async throws {
        let upstream = try ScriptedUpstream { _, _ in .respond("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") }
        defer { upstream.shutdown() }
        let port = upstream.port
        let registry = MetricsRegistry()
        let signal = Signal<String>()
        TestLoop.loop.execute {
            let pool = UpstreamPool(eventLoop: TestLoop.loop, host: "127.0.0.1", port: port, metrics: registry)
            pool.send(HTTPRequest(method: "GET", target: "/x")) { _ in
                signal.fulfill(registry.render())
                pool.close()
            }
        }
        let text = try #require(await signal.wait(seconds: 5))
        #expect(text.contains("gateway_upstream_request_duration_seconds_count 1"))
        #expect(text.contains("gateway_upstream_connections_open 1"))
    }
}
