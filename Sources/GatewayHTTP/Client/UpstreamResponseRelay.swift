// Streams an upstream response to a client responder: the usual last step of the proxy path when the
// response needs no inspection. Backpressure runs end to end (a client that reads slowly pauses the
// upstream read), a client that goes away cancels the upstream exchange, and a failure is answered with
// an error response before the head, or by aborting the client connection after it.

/// How a relayed exchange ended.
public enum UpstreamRelayOutcome: Sendable, Equatable {
    /// The whole response reached the client's connection.
    case completed(status: Int, bodyBytes: Int)
    /// The upstream failed; `headSent` tells whether the client got an error response (false) or a cut
    /// connection (true).
    case failed(UpstreamError, headSent: Bool)
    /// The client closed its connection first; the upstream exchange was cancelled.
    case clientClosed
}

/// Relays one upstream response to an ``HTTPResponder``. Loop-confined.
public final class UpstreamResponseRelay: UpstreamResponseHandler {
    private let responder: HTTPResponder
    private let rewriteHead: (HTTPResponseHead) -> HTTPResponseHead
    private let errorResponse: (UpstreamError) -> HTTPResponse
    private var completion: ((UpstreamRelayOutcome) -> Void)?
    private weak var call: UpstreamCall?
    private var status = 0
    private var bodyBytes = 0
    private var headSent = false

    /// Creates a relay.
    ///
    /// - Parameters:
    ///   - responder: Where the response goes.
    ///   - rewriteHead: Adjusts the upstream head before it is sent (drop hop-by-hop fields, add
    ///     `X-Request-ID`, rewrite `Location`...). Framing fields are always recomputed by the responder.
    ///   - errorResponse: The response sent when the upstream fails before its head arrived.
    ///   - completion: Called once with the outcome (for metrics and audit).
    public init(
        responder: HTTPResponder, rewriteHead: @escaping (HTTPResponseHead) -> HTTPResponseHead = { $0 },
        errorResponse: @escaping (UpstreamError) -> HTTPResponse,
        completion: ((UpstreamRelayOutcome) -> Void)? = nil
    ) {
        self.responder = responder
        self.rewriteHead = rewriteHead
        self.errorResponse = errorResponse
        self.completion = completion
    }

    /// Connects the relay to the exchange it relays (for pause, resume and cancel).
    public func attach(_ call: UpstreamCall) {
        self.call = call
        responder.onClose = { [weak self] in self?.clientClosed() }
        responder.onWritable = { [weak self] in self?.call?.resumeReading() }
    }

    public func didReceiveHead(_ head: HTTPResponseHead) {
        status = head.status
        headSent = true
        responder.sendHead(rewriteHead(head))
    }

    public func didReceiveBody(_ chunk: [UInt8]) {
        bodyBytes += chunk.count
        responder.sendBody(chunk)
        // Checked after each chunk: over the watermark, the upstream read waits for the client to drain.
        if !responder.isWritable, let call, !call.isPaused { call.pauseReading() }
    }

    public func didFinish() {
        responder.end()
        finish(.completed(status: status, bodyBytes: bodyBytes))
    }

    public func didFail(_ error: UpstreamError) {
        if headSent {
            responder.abort()
        } else {
            responder.respond(errorResponse(error))
        }
        finish(.failed(error, headSent: headSent))
    }

    private func clientClosed() {
        call?.cancel()
        finish(.clientClosed)
    }

    private func finish(_ outcome: UpstreamRelayOutcome) {
        let completion = self.completion
        self.completion = nil
        completion?(outcome)
    }
}

extension UpstreamPool {
    /// Sends `request` and streams the response to `responder` through an ``UpstreamResponseRelay``.
    ///
    /// - Parameters:
    ///   - request: The request rebuilt for the upstream.
    ///   - responder: The client's responder.
    ///   - rewriteHead: Adjusts the upstream head before it is sent.
    ///   - errorResponse: The response for an upstream failure before the head (e.g. a FHIR
    ///     OperationOutcome with ``UpstreamError/status``).
    ///   - completion: Called once with the outcome.
    @discardableResult
    public func relay(
        _ request: HTTPRequest, to responder: HTTPResponder,
        rewriteHead: @escaping (HTTPResponseHead) -> HTTPResponseHead = { $0 },
        errorResponse: @escaping (UpstreamError) -> HTTPResponse,
        completion: ((UpstreamRelayOutcome) -> Void)? = nil
    ) -> UpstreamCall {
        let relay = UpstreamResponseRelay(
            responder: responder, rewriteHead: rewriteHead, errorResponse: errorResponse, completion: completion)
        let call = send(request, handler: relay)
        relay.attach(call)
        return call
    }
}
