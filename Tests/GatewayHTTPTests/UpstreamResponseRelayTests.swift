import GatewayTesting
import Foundation
import GatewayCore
import GatewayIO
import Synchronization
import Testing
@testable import GatewayHTTP

/// Proxies every request to the pool with `relay`, recording outcomes and a mid-flight pause sample.
final class RelayHandler: HTTPServerHandler {
    let pool: UpstreamPool
    var outcomes: [UpstreamRelayOutcome] = []
    var calls: [UpstreamCall] = []

    init(pool: UpstreamPool) { self.pool = pool }

    func handle(_ request: HTTPRequest, context: HTTPRequestContext, responder: HTTPResponder) {
        let call = pool.relay(
            request, to: responder,
            rewriteHead: { head in
                var head = head
                head.headers.set("X-Relayed", "yes")
                return head
            },
            errorResponse: { HTTPResponse(status: $0.status, body: Array("upstream \($0.kind)".utf8)) },
            completion: { [weak self] in self?.outcomes.append($0) })
        calls.append(call)
    }
}

struct RelayView: Sendable {
    var text: String
    var outcomes: [UpstreamRelayOutcome]
    var pausedMidway: Bool
    var callsFinished: Bool
}

/// Runs one client request through a relay to `port`; the client reads after `clientDelayMs`, and may
/// close after `closeAfterBytes`.
private func relayExchange(
    port: Int, request: String, clientDelayMs: UInt64 = 0, closeAfterBytes: Int? = nil,
    until: @escaping @Sendable (String) -> Bool
) async -> RelayView? {
    let signal = Signal<RelayView>()
    TestLoop.loop.execute {
        let pool = UpstreamPool(eventLoop: TestLoop.loop, host: "127.0.0.1", port: port, metrics: MetricsRegistry())
        let handler = RelayHandler(pool: pool)
        let (client, server) = InMemoryByteStreamPair.make(on: TestLoop.loop)
        let limits = HTTPServerLimits(writeHighWatermarkBytes: 16 * 1024)
        HTTP1ServerConnection(stream: server, handler: handler, limits: limits, connectionID: 9).start()
        var pausedMidway = false
        var collector: ClientCollector?
        func report() {
            guard let c = collector else { return }
            collector = nil
            let text = String(decoding: c.received, as: UTF8.self)
            client.close()
            _ = TestLoop.loop.schedule(afterMilliseconds: 20) {
                let finished = handler.calls.allSatisfy(\.isFinished)
                signal.fulfill(RelayView(
                    text: text, outcomes: handler.outcomes, pausedMidway: pausedMidway, callsFinished: finished))
                pool.close()
            }
        }
        collector = ClientCollector(until: { text in
            until(text) || closeAfterBytes.map { text.utf8.count >= $0 } ?? false
        }) { _ in report() }
        client.delegate = collector
        if clientDelayMs > 0 {
            client.pauseReading()
            // Sampled repeatedly: on a loaded machine the upstream bytes may arrive late in the window.
            for at in stride(from: 20, to: clientDelayMs, by: 20) {
                _ = TestLoop.loop.schedule(afterMilliseconds: at) {
                    if handler.calls.first?.isPaused == true { pausedMidway = true }
                }
            }
            _ = TestLoop.loop.schedule(afterMilliseconds: clientDelayMs) { client.resumeReading() }
        }
        client.write(Array(request.utf8))
    }
    return await signal.wait(seconds: 10)
}

@Suite("Upstream response relay", .serialized)
struct UpstreamResponseRelayTests {
    static let get = "GET /fhir/Bundle HTTP/1.1\r\nHost: gw\r\n\r\n"

    @Test("a large body streams to a slow client with the upstream paused meanwhile; the head is rewritten")
    func streams() async throws {
        let size = 1 << 20
        let response = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            + String(size, radix: 16) + "\r\n" + String(repeating: "y", count: size) + "\r\n0\r\n\r\n"
        let upstream = try ScriptedUpstream { _, _ in .respond(response) }
        defer { upstream.shutdown() }
        let view = try #require(await relayExchange(port: upstream.port, request: Self.get, clientDelayMs: 600) {
            $0.hasSuffix("0\r\n\r\n")
        })
        #expect(view.pausedMidway)
        #expect(view.text.contains("X-Relayed: yes\r\n"))
        #expect(view.text.contains("Transfer-Encoding: chunked\r\n"))
        #expect(view.outcomes == [.completed(status: 200, bodyBytes: size)])
    }

    @Test("an upstream failure before the head becomes the error response")
    func failureBeforeHead() async throws {
        let bad = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"
        let upstream = try ScriptedUpstream { _, _ in .respond(bad) }
        defer { upstream.shutdown() }
        let view = try #require(await relayExchange(port: upstream.port, request: Self.get) {
            $0.hasSuffix("upstream invalidResponse")
        })
        #expect(view.text.hasPrefix("HTTP/1.1 502 Bad Gateway\r\n"))
        guard view.outcomes.count == 1, case .failed(let error, let headSent) = view.outcomes[0] else {
            Issue.record("unexpected outcomes \(view.outcomes)")
            return
        }
        #expect(error.kind == .invalidResponse && !headSent)
    }

    @Test("a client that goes away mid-body cancels the upstream exchange")
    func clientGone() async throws {
        let size = 4 << 20
        let upstream = try ScriptedUpstream { _, _ in
            .respond("HTTP/1.1 200 OK\r\nContent-Length: \(size)\r\n\r\n" + String(repeating: "z", count: size))
        }
        defer { upstream.shutdown() }
        let view = try #require(await relayExchange(port: upstream.port, request: Self.get, closeAfterBytes: 1000) {
            _ in false
        })
        #expect(view.outcomes == [.clientClosed])
        #expect(view.callsFinished)
    }
}
