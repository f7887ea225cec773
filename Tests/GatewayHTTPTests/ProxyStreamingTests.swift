import GatewayTesting
import Foundation
import GatewayCore
import GatewayIO
import Synchronization
import Testing
@testable import GatewayHTTP

/// Forwards each request to the pool and streams the answer back, with backpressure both ways: when
/// the client connection stops being writable, the upstream read pauses until it drains.
final class ForwardingHandler: HTTPServerHandler {
    let pool: UpstreamPool
    var pausesObserved = 0

    init(pool: UpstreamPool) { self.pool = pool }

    func handle(_ request: HTTPRequest, context: HTTPRequestContext, responder: HTTPResponder) {
        let exchange = ForwardedExchange(responder: responder, owner: self)
        exchange.call = pool.send(request, handler: exchange)
    }
}

final class ForwardedExchange: UpstreamResponseHandler {
    let responder: HTTPResponder
    let owner: ForwardingHandler
    var call: UpstreamCall?

    init(responder: HTTPResponder, owner: ForwardingHandler) {
        self.responder = responder
        self.owner = owner
        responder.onClose = { [weak self] in self?.call?.cancel() }
    }

    func didReceiveHead(_ head: HTTPResponseHead) { responder.sendHead(head) }

    func didReceiveBody(_ chunk: [UInt8]) {
        responder.sendBody(chunk)
        if !responder.isWritable, let call, !call.isPaused {
            owner.pausesObserved += 1
            call.pauseReading()
            responder.onWritable = { [weak self] in self?.call?.resumeReading() }
        }
    }

    func didFinish() { responder.end() }

    func didFail(_ error: UpstreamError) {
        if responder.isOpen { responder.respond(HTTPResponse(status: error.status)) }
    }
}

struct ProxyOutcome: Sendable {
    var bodyBytes: Int
    var head: String
    var pauses: Int
}

@Suite("Proxy streaming", .serialized)
struct ProxyStreamingTests {
    @Test("a large upstream body streams through a slow client with the upstream read paused meanwhile")
    func backpressure() async throws {
        let size = 1 << 20
        let body = String(repeating: "x", count: size)
        let response = "HTTP/1.1 200 OK\r\nContent-Length: \(size)\r\n\r\n\(body)"
        let upstream = try ScriptedUpstream { _, _ in .respond(response) }
        defer { upstream.shutdown() }
        let port = upstream.port
        let signal = Signal<ProxyOutcome>()
        TestLoop.loop.execute {
            let pool = UpstreamPool(eventLoop: TestLoop.loop, host: "127.0.0.1", port: port, metrics: MetricsRegistry())
            let handler = ForwardingHandler(pool: pool)
            let (client, server) = InMemoryByteStreamPair.make(on: TestLoop.loop)
            let limits = HTTPServerLimits(writeHighWatermarkBytes: 16 * 1024)
            HTTP1ServerConnection(stream: server, handler: handler, limits: limits, connectionID: 7).start()
            var collector: ClientCollector?
            collector = ClientCollector(until: { $0.utf8.count >= size + 40 && $0.hasSuffix("xxxx") }) { _ in
                guard let c = collector else { return }
                let text = String(decoding: c.received, as: UTF8.self)
                let parts = text.components(separatedBy: "\r\n\r\n")
                let bodyBytes = parts.dropFirst().joined().utf8.count
                signal.fulfill(ProxyOutcome(bodyBytes: bodyBytes, head: parts[0], pauses: handler.pausesObserved))
                collector = nil
                client.close()
                pool.close()
            }
            client.delegate = collector
            client.pauseReading()
            client.write(Array("GET /fhir/Bundle HTTP/1.1\r\nHost: gw\r\n\r\n".utf8))
            _ = TestLoop.loop.schedule(afterMilliseconds: 600) { client.resumeReading() }
        }
        let outcome = try #require(await signal.wait(seconds: 10))
        #expect(outcome.bodyBytes == size)
        #expect(outcome.head.contains("Content-Length: \(size)"))
        #expect(outcome.pauses >= 1)
    }
}
