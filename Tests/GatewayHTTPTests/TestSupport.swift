// Shared helpers: a one-shot signal from the loop thread to async tests (with a timeout so a broken
// implementation fails instead of hanging), one shared event loop, and a client driver over the
// in-memory stream pair.

import Dispatch
import Foundation
import GatewayCore
import GatewayIO
import GatewayTesting
import Synchronization
@testable import GatewayHTTP

/// The one-shot signal of the test support library, under the name these tests use.
typealias Signal = TestSignal

enum TestLoop {
    static let group = EventLoopGroup(count: 1)
    static var loop: EventLoop { group.loops[0] }
}

/// What a test handler does with each request.
enum HandlerMode: Sendable {
    /// 200 with body `ok <method> <target> <body length>\n`.
    case echo
    /// Streams the body in pieces without a Content-Length.
    case stream([String])
    /// Never answers.
    case hang
    /// Answers like `.echo`, but from a timer after `ms` milliseconds.
    case delayed(UInt64)
    /// Answers 200 with these extra headers and an empty body.
    case headers([String])
    /// Answers with this status and no body.
    case status(Int)
    /// Reports the context of each request in the body: `<connection id> <request number> <remote>`.
    case context
    /// Streams 16 KiB chunks for as long as the client reads, respecting backpressure.
    case flood
}

final class RecordingHandler: HTTPServerHandler {
    let mode: HandlerMode
    var requests: [HTTPRequest] = []
    var responders: [HTTPResponder] = []
    var closedWhileResponding = 0

    init(mode: HandlerMode) { self.mode = mode }

    func handle(_ request: HTTPRequest, context: HTTPRequestContext, responder: HTTPResponder) {
        requests.append(request)
        responders.append(responder)
        switch mode {
        case .echo:
            let text = "ok \(request.method) \(request.target) \(request.body.count)\n"
            let headers = HTTPHeaders([("Content-Type", "text/plain")])
            responder.respond(HTTPResponse(status: 200, headers: headers, body: Array(text.utf8)))
        case .stream(let pieces):
            responder.sendHead(HTTPResponseHead(status: 200))
            for piece in pieces { responder.sendBody(Array(piece.utf8)) }
            responder.end()
        case .hang:
            break
        case .delayed(let ms):
            let text = "ok \(request.method) \(request.target) \(request.body.count)\n"
            _ = context.eventLoop.schedule(afterMilliseconds: ms) {
                responder.respond(HTTPResponse(status: 200, body: Array(text.utf8)))
            }
        case .headers(let lines):
            var headers = HTTPHeaders()
            for line in lines {
                let parts = line.split(separator: ":", maxSplits: 1).map(String.init)
                headers.add(parts[0], parts.count > 1 ? parts[1] : "")
            }
            responder.respond(HTTPResponse(status: 200, headers: headers))
        case .status(let status):
            responder.respond(HTTPResponse(status: status))
        case .flood:
            responder.sendHead(HTTPResponseHead(status: 200))
            let chunk = [UInt8](repeating: 0x78, count: 16 * 1024)
            func push() {
                while responder.isOpen && responder.isWritable { responder.sendBody(chunk) }
                responder.onWritable = push
            }
            responder.onClose = { [weak self] in self?.closedWhileResponding += 1 }
            push()
        case .context:
            let text = "ctx \(context.connectionID) \(context.requestNumber) \(context.remoteAddress.host)\n"
            responder.respond(HTTPResponse(status: 200, body: Array(text.utf8)))
        }
    }
}

/// What the client saw.
struct ClientView: Sendable {
    var text: String
    var closed: Bool
    var handled: [String]
    var closedWhileResponding = 0
}

/// Reads everything the server sends; reports on close or once `until` holds.
final class ClientCollector: ByteStreamDelegate {
    var received: [UInt8] = []
    let until: @Sendable (String) -> Bool
    let report: (Bool) -> Void

    init(until: @escaping @Sendable (String) -> Bool, report: @escaping (Bool) -> Void) {
        self.until = until
        self.report = report
    }

    func streamDidRead(_ stream: any ByteStream, bytes: UnsafeRawBufferPointer) {
        received.append(contentsOf: bytes)
        if until(String(decoding: received, as: UTF8.self)) { report(false) }
    }

    func streamDidClose(_ stream: any ByteStream, error: (any Error)?) { report(true) }
    func streamDidDrain(_ stream: any ByteStream) {}
}

/// Connects a client to a fresh server connection over an in-memory pair, writes `pieces` (each after
/// `gapMs`), and returns what came back once the server closed or `until` matched.
func serverExchange(
    _ pieces: [String], limits: HTTPServerLimits = HTTPServerLimits(), mode: HandlerMode = .echo, gapMs: UInt64 = 0,
    drainAfterMs: UInt64? = nil, metrics: MetricsRegistry = MetricsRegistry(), clientPaused: Bool = false,
    until: @escaping @Sendable (String) -> Bool = { _ in false }
) async -> ClientView? {
    let signal = Signal<ClientView>()
    TestLoop.loop.execute {
        let (client, server) = InMemoryByteStreamPair.make(on: TestLoop.loop)
        let handler = RecordingHandler(mode: mode)
        let connection = HTTP1ServerConnection(
            stream: server, handler: handler, limits: limits, connectionID: 1, metrics: metrics)
        var collector: ClientCollector?
        collector = ClientCollector(until: until) { closed in
            guard let c = collector else { return }
            collector = nil
            let text = String(decoding: c.received, as: UTF8.self)
            client.close()
            // Let the server side observe the close too before reading what the handler saw.
            _ = TestLoop.loop.schedule(afterMilliseconds: 5) {
                let handled = handler.requests.map { "\($0.method) \($0.target)" }
                signal.fulfill(ClientView(
                    text: text, closed: closed, handled: handled, closedWhileResponding: handler.closedWhileResponding))
            }
        }
        client.delegate = collector
        if clientPaused { client.pauseReading() }
        connection.start()
        var delay: UInt64 = 0
        for piece in pieces {
            if gapMs == 0 {
                client.write(Array(piece.utf8))
            } else {
                _ = TestLoop.loop.schedule(afterMilliseconds: delay) { client.write(Array(piece.utf8)) }
                delay += gapMs
            }
        }
        if let drainAfterMs {
            _ = TestLoop.loop.schedule(afterMilliseconds: drainAfterMs) { connection.drain() }
        }
    }
    return await signal.wait(seconds: 60)
}

extension String {
    /// Status codes of every response in a raw HTTP/1.1 byte string, in order.
    var statusCodes: [Int] {
        components(separatedBy: "HTTP/1.1 ").dropFirst().compactMap { Int($0.prefix(3)) }
    }
}
