// One HTTP/1.1 server connection on a ByteStream: the I/O layer around HTTP1RequestDecoder. Requests are
// handled one at a time: reading stops while a request is with the handler, so pipelined requests are
// answered in order and a client cannot queue unbounded work. Any framing error is answered (through the
// injectable renderer) and the connection is closed: a desynchronised stream is never parsed further.

public import GatewayCore
public import GatewayIO

/// Serves HTTP/1.1 on one byte stream. Loop-confined: create and use it on the stream's event loop.
public final class HTTP1ServerConnection: ByteStreamDelegate {
    private enum State {
        case reading
        case handling(HTTPResponder)
        case closing
        case closed
    }

    private enum TimerKind { case none, header, body, idle, write }

    let stream: any ByteStream
    let limits: HTTPServerLimits
    private let handler: any HTTPServerHandler
    private let connectionID: UInt64
    private let renderError: HTTPErrorRenderer
    private let metrics: MetricsRegistry
    private let logger: Logger
    private var decoder: HTTP1RequestDecoder
    private var buffer = ByteAccumulator()
    private var state = State.reading
    private var timer: TimerHandle?
    private var timerKind = TimerKind.none
    private var readPaused = false
    private var processing = false
    private var draining = false
    private var requestCount = 0
    private var dateCache = HTTPDateCache()
    // Keeps the connection alive while its stream is open, whatever the stream does with its delegate.
    private var retainedSelf: HTTP1ServerConnection?

    /// Called once when the connection has closed.
    public var onClose: ((HTTP1ServerConnection) -> Void)?

    /// Creates a connection; call ``start()`` to begin serving.
    ///
    /// - Parameters:
    ///   - stream: The accepted (and, for TLS, handshaken) stream.
    ///   - handler: Receives each complete request.
    ///   - limits: Size and time limits.
    ///   - connectionID: A process-unique id for logs and ``HTTPRequestContext``.
    ///   - errorRenderer: Renders framing errors (400, 408, 413, 414, 431, 501, 505...).
    ///   - metrics: Where `gateway_http_parse_errors_total{reason=...}` is counted.
    ///   - logger: Debug-level connection events.
    public init(
        stream: any ByteStream, handler: any HTTPServerHandler, limits: HTTPServerLimits = HTTPServerLimits(),
        connectionID: UInt64, errorRenderer: @escaping HTTPErrorRenderer = plainTextErrorResponse,
        metrics: MetricsRegistry = .shared, logger: Logger = .disabled
    ) {
        self.stream = stream
        self.handler = handler
        self.limits = limits
        self.connectionID = connectionID
        self.renderError = errorRenderer
        self.metrics = metrics
        self.logger = logger
        self.decoder = HTTP1RequestDecoder(limits: limits)
    }

    /// Starts reading. The first request head must arrive within the header-read timeout.
    public func start() {
        retainedSelf = self
        stream.delegate = self
        arm(.header)
    }

    /// Closes the connection now if it is idle, otherwise after the response in flight (SIGTERM drain).
    public func drain() {
        draining = true
        switch state {
        case .reading where !decoder.hasPartialRequest && buffer.isEmpty:
            closeGracefully()
        case .handling(let responder) where !responder.hasStarted:
            responder.forceClose()
        default:
            break
        }
    }

    /// True until the connection has closed.
    public var isOpen: Bool {
        switch state {
        case .closing, .closed: false
        default: true
        }
    }

    /// True when no request is in progress (nothing received, nothing being answered).
    public var isIdle: Bool {
        if case .reading = state { return !decoder.hasPartialRequest && buffer.isEmpty }
        return false
    }

    var pendingWriteBytes: Int { stream.pendingWriteBytes }

    func currentDate() -> String { dateCache.current() }

    // MARK: - ByteStreamDelegate

    public func streamDidRead(_ stream: any ByteStream, bytes: UnsafeRawBufferPointer) {
        guard isOpen else { return }
        buffer.append(bytes)
        if case .reading = state { process() }
    }

    // TODO(#2): a client that half-closes after its last request loses the response (the stream reports
    // one close for both directions).
    public func streamDidClose(_ stream: any ByteStream, error: (any Error)?) {
        if case .closed = state { return }
        let responder: HTTPResponder?
        if case .handling(let current) = state { responder = current } else { responder = nil }
        state = .closed
        cancelTimer()
        buffer.removeAll()
        stream.delegate = nil
        responder?.connectionDidClose()
        logger.debug("connection closed", metadata: ["connection.id": String(connectionID)])
        onClose?(self)
        onClose = nil
        retainedSelf = nil
    }

    public func streamDidDrain(_ stream: any ByteStream) {
        if timerKind == .write { cancelTimer() }
        if case .handling(let responder) = state { responder.connectionDidDrain() }
    }

    /// The responder found the write queue over the watermark: the client must drain it in time.
    func blockedOnWrite() {
        guard case .handling = state, timerKind != .write else { return }
        arm(.write)
    }

    // MARK: - Request loop

    private func process() {
        // Trampoline: a handler that answers synchronously re-enters through `responseEnded`; the loop
        // below then picks up the next pipelined request instead of recursing.
        guard !processing else { return }
        processing = true
        defer { processing = false }
        while case .reading = state {
            switch decoder.next(&buffer) {
            case .needMore:
                waitForBytes()
                return
            case .sendContinue:
                stream.write(HTTP1Serializer.continueResponse)
            case .request(let request, let keepAlive):
                dispatch(request, keepAlive: keepAlive)
            case .failed(let error):
                fail(error)
                return
            }
        }
    }

    private func waitForBytes() {
        if decoder.isReadingBody {
            if timerKind != .body { arm(.body) }
        } else if decoder.hasPartialRequest {
            // The header deadline runs from the first byte of the head and is never extended (DOS-01).
            if timerKind != .header { arm(.header) }
        } else if timerKind == .none {
            arm(.idle)
        }
        if readPaused {
            readPaused = false
            stream.resumeReading()
        }
    }

    private func dispatch(_ request: HTTPRequest, keepAlive: Bool) {
        cancelTimer()
        if !readPaused {
            readPaused = true
            stream.pauseReading()
        }
        requestCount += 1
        let responder = HTTPResponder(
            connection: self, method: request.method, version: request.version, keepAlive: keepAlive && !draining)
        state = .handling(responder)
        let context = HTTPRequestContext(
            remoteAddress: stream.remoteAddress, tls: stream.tlsInfo, connectionID: connectionID,
            requestNumber: requestCount, eventLoop: stream.eventLoop)
        handler.handle(request, context: context, responder: responder)
    }

    // MARK: - Called by the responder

    func write(_ bytes: [UInt8]) {
        guard isOpen else { return }
        stream.write(bytes)
    }

    func responseEnded(_ responder: HTTPResponder, reusable: Bool) {
        guard case .handling(let current) = state, current === responder else { return }
        if !reusable || !responder.keepAlive || draining {
            closeGracefully()
            return
        }
        state = .reading
        cancelTimer()  // a write timer of the finished response must not outlive it
        process()
    }

    func abortResponse(_ responder: HTTPResponder) {
        guard case .handling(let current) = state, current === responder else { return }
        state = .closing
        cancelTimer()
        stream.abort()
    }

    // MARK: - Errors, timers, closing

    private func fail(_ error: HTTPParseError) {
        metrics.counter(
            "gateway_http_parse_errors_total", help: "HTTP/1.1 requests refused at the framing layer",
            labels: [("reason", error.reason)]
        ).increment()
        logger.debug("request refused", metadata: ["connection.id": String(connectionID), "http.error": error.reason])
        var response = renderError(error.status, error.message)
        if error.status == 405 { response.headers.add("Allow", RequestLineRules.allowHeader) }
        response.headers.set("Content-Length", String(response.body.count))
        response.headers.remove("Connection")
        var bytes = Array("HTTP/1.1 \(response.status) \(reasonPhrase(response.status))\r\n".utf8)
        HTTP1Serializer.appendModelFields(&bytes, response.headers)
        HTTP1Serializer.appendField(&bytes, "Content-Length", String(response.body.count))
        if !response.headers.contains("Date") { HTTP1Serializer.appendField(&bytes, "Date", currentDate()) }
        HTTP1Serializer.appendField(&bytes, "Connection", "close")
        bytes.append(contentsOf: HTTP1Serializer.crlf)
        bytes.append(contentsOf: response.body)
        stream.write(bytes)
        closeGracefully()
    }

    private func closeGracefully() {
        guard isOpen else { return }
        state = .closing
        cancelTimer()
        stream.close()
    }

    private func arm(_ kind: TimerKind) {
        timer?.cancel()
        timerKind = kind
        let ms: UInt64
        switch kind {
        case .none: timer = nil; return
        case .header: ms = limits.headerReadTimeoutMs
        case .body: ms = limits.bodyReadTimeoutMs
        case .idle: ms = limits.idleTimeoutMs
        case .write: ms = limits.writeTimeoutMs
        }
        timer = stream.eventLoop.schedule(afterMilliseconds: ms) { [weak self] in self?.timerFired(kind) }
    }

    private func cancelTimer() {
        timer?.cancel()
        timer = nil
        timerKind = .none
    }

    private func timerFired(_ kind: TimerKind) {
        guard kind == timerKind else { return }
        timer = nil
        timerKind = .none
        if case .handling(let responder) = state, kind == .write {
            // The client stopped reading a response: drop it; the responder's onClose stops the producer.
            state = .closing
            stream.abort()
            responder.connectionDidClose()
            return
        }
        guard case .reading = state else { return }
        if decoder.hasPartialRequest || !buffer.isEmpty {
            let reason = kind == .body ? "body_timeout" : "header_timeout"
            fail(HTTPParseError(status: 408, reason: reason, message: "request timeout"))
        } else {
            // An idle keep-alive connection (or one that never sent a byte) is closed without a response.
            closeGracefully()
        }
    }
}
