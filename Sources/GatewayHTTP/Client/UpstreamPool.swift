// A per-loop keep-alive pool of HTTP/1.1 connections to one upstream (ARCHITECTURE §3: nothing on the
// request path is shared between loops). Connections are reused LIFO, kept at most `maxIdle`, and closed
// after `idleTimeoutMs` without use.
//
// Retry rule (issue #2 item 5): a request is sent again, once, on a fresh connection only when its method
// is idempotent, it failed on a reused connection, no response byte had arrived, and the failure was the
// connection closing or a write failing (the classic race with the upstream's own keep-alive timeout).
// Never after a timeout: the upstream may still be working on it.

public import GatewayCore
public import GatewayIO

/// Keep-alive HTTP/1.1 client connections to one upstream, confined to one event loop.
public final class UpstreamPool {
    /// The loop every connection and callback of this pool runs on.
    public let eventLoop: EventLoop
    let host: String
    let port: Int
    let tls: TLSClientContext?
    let serverName: String?
    let hostHeader: String
    let maxIdle: Int
    let connectTimeoutMs: UInt64
    let responseTimeoutMs: UInt64
    let idleTimeoutMs: UInt64
    let duration: Histogram
    let openConnections: Gauge
    private var idle: [UpstreamConnection] = []
    private var isClosed = false

    /// Creates a pool; call it (and everything else on it) on `eventLoop`.
    ///
    /// - Parameters:
    ///   - host: Numeric address or DNS name of the upstream.
    ///   - port: Its port.
    ///   - tls: TLS settings for the upstream, or nil for plain HTTP.
    ///   - serverName: SNI and certificate name; defaults to `host`.
    ///   - maxIdle: Most idle connections kept for reuse.
    ///   - connectTimeoutMs: Limit for connect plus TLS handshake (504 when exceeded).
    ///   - responseTimeoutMs: Longest silence from the upstream while a response is awaited or streaming (504).
    ///   - idleTimeoutMs: Idle connections are closed after this; keep it below the upstream's keep-alive timeout.
    ///   - metrics: Registry for `gateway_upstream_request_duration_seconds` and `gateway_upstream_connections_open`.
    ///   - hostHeader: The `Host` sent upstream; defaults to `host[:port]` (port omitted when default).
    public init(
        eventLoop: EventLoop, host: String, port: Int, tls: TLSClientContext? = nil, serverName: String? = nil,
        maxIdle: Int = 64, connectTimeoutMs: UInt64 = 5_000, responseTimeoutMs: UInt64 = 60_000,
        idleTimeoutMs: UInt64 = 30_000, metrics: MetricsRegistry = .shared, hostHeader: String? = nil
    ) {
        self.eventLoop = eventLoop
        self.host = host
        self.port = port
        self.tls = tls
        self.serverName = serverName
        let defaultPort = tls == nil ? 80 : 443
        let hostPart = host.contains(":") ? "[\(host)]" : host
        self.hostHeader = hostHeader ?? (port == defaultPort ? hostPart : "\(hostPart):\(port)")
        self.maxIdle = maxIdle
        self.connectTimeoutMs = connectTimeoutMs
        self.responseTimeoutMs = responseTimeoutMs
        self.idleTimeoutMs = idleTimeoutMs
        duration = metrics.histogram(
            "gateway_upstream_request_duration_seconds",
            help: "Time from sending a request upstream to its response end")
        openConnections = metrics.gauge("gateway_upstream_connections_open", help: "Open connections to the upstream")
    }

    /// Idle connections currently kept for reuse.
    public var idleConnectionCount: Int { idle.count }

    /// Sends `request` and streams the response to `handler`.
    ///
    /// The request is serialised from the model: `Host` comes from the pool's configuration, and
    /// `Content-Length` is computed (omitted for an empty GET, HEAD or DELETE). Framing and hop-by-hop fields
    /// in `request.headers` are ignored. Failures arrive as `didFail`, never synchronously inside `send`.
    @discardableResult
    public func send(_ request: HTTPRequest, handler: any UpstreamResponseHandler) -> UpstreamCall {
        precondition(eventLoop.inEventLoop, "UpstreamPool is confined to its event loop")
        let call = UpstreamCall(pool: self, request: request, handler: handler)
        guard let serialized = UpstreamRequestSerializer.serialize(request, hostHeader: hostHeader) else {
            eventLoop.executeSoon { call.fail(UpstreamError(.invalidRequest, "request has unsafe fields")) }
            return call
        }
        call.head = serialized.head
        call.separateBody = serialized.separateBody
        if isClosed {
            eventLoop.executeSoon { call.fail(UpstreamError(.connectFailed, "pool closed")) }
            return call
        }
        dispatch(call, allowReuse: true)
        return call
    }

    /// Sends `request` and buffers the whole response (for responses the gateway must inspect).
    ///
    /// A body larger than `maxBodyBytes` fails with `.responseTooLarge` and the connection is dropped.
    @discardableResult
    public func send(
        _ request: HTTPRequest, maxBodyBytes: Int = 8 * 1024 * 1024,
        completion: @escaping (Result<HTTPResponse, UpstreamError>) -> Void
    ) -> UpstreamCall {
        let collector = BufferingResponseHandler(maxBodyBytes: maxBodyBytes, completion: completion)
        let call = send(request, handler: collector)
        collector.call = call
        return call
    }

    /// Closes idle connections and stops pooling; exchanges in flight finish, then their connections close.
    public func close() {
        isClosed = true
        let connections = idle
        idle.removeAll()
        for connection in connections { connection.close() }
    }

    // MARK: - Internals

    // TODO(#2): no cap on concurrent upstream connections per loop; the client-side limits bound it for now.
    func dispatch(_ call: UpstreamCall, allowReuse: Bool) {
        call.attempts += 1
        if allowReuse, let connection = idle.popLast() {
            connection.start(call, reused: true)
            return
        }
        TCPConnector.connect(
            on: eventLoop, host: host, port: port, tls: tls, serverName: serverName,
            timeoutMilliseconds: connectTimeoutMs
        ) { [self] result in
            switch result {
            case .success(let stream):
                openConnections.add(1)
                let connection = UpstreamConnection(stream: stream, pool: self)
                if call.isFinished {
                    offerIdle(connection)
                } else {
                    connection.start(call, reused: false)
                }
            case .failure(let error):
                let timedOut = (error as? IOError)?.name == "ETIMEDOUT"
                call.fail(UpstreamError(timedOut ? .connectTimeout : .connectFailed, "\(error)"))
            }
        }
    }

    /// Takes back a connection whose exchange ended cleanly.
    func offerIdle(_ connection: UpstreamConnection) {
        guard !isClosed, idle.count < maxIdle else {
            connection.close()
            return
        }
        idle.append(connection)
        connection.becameIdle(timeoutMs: idleTimeoutMs)
    }

    func connectionClosed(_ connection: UpstreamConnection) {
        openConnections.add(-1)
        forgetIdle(connection)
    }

    func forgetIdle(_ connection: UpstreamConnection) {
        idle.removeAll { $0 === connection }
    }

    func shouldRetry(_ call: UpstreamCall, error: UpstreamError, reused: Bool, receivedBytes: Bool) -> Bool {
        error.kind == .connectionClosed && reused && !receivedBytes && call.attempts == 1 && !isClosed
            && UpstreamRequestSerializer.idempotentMethods.contains(call.request.method)
    }
}

/// One request in flight to the upstream. Loop-confined.
public final class UpstreamCall {
    private weak var pool: UpstreamPool?
    let request: HTTPRequest
    var head: [UInt8] = []
    var separateBody: [UInt8] = []
    private var handler: (any UpstreamResponseHandler)?
    var attempts = 0
    weak var connection: UpstreamConnection?
    private let startedNanos = monotonicNanos()
    /// True while the caller asked the upstream read to pause (backpressure).
    public private(set) var isPaused = false
    /// True once the exchange finished, failed or was cancelled.
    public private(set) var isFinished = false

    init(pool: UpstreamPool, request: HTTPRequest, handler: any UpstreamResponseHandler) {
        self.pool = pool
        self.request = request
        self.handler = handler
    }

    /// Stops reading the upstream response until ``resumeReading()`` (e.g. the client is slow).
    public func pauseReading() {
        guard !isFinished, !isPaused else { return }
        isPaused = true
        connection?.callPaused()
    }

    /// Resumes reading the upstream response.
    public func resumeReading() {
        guard !isFinished, isPaused else { return }
        isPaused = false
        connection?.callResumed()
    }

    /// Abandons the exchange; the handler gets no further calls and a connection mid-response is dropped.
    public func cancel() {
        guard !isFinished else { return }
        isFinished = true
        handler = nil
        connection?.callCancelled(self)
    }

    func deliverHead(_ head: HTTPResponseHead) { handler?.didReceiveHead(head) }
    func deliverBody(_ chunk: [UInt8]) { handler?.didReceiveBody(chunk) }

    func finish() {
        guard !isFinished else { return }
        isFinished = true
        pool?.duration.observe(Double(monotonicNanos() - startedNanos) / 1e9)
        let handler = self.handler
        self.handler = nil
        handler?.didFinish()
    }

    func fail(_ error: UpstreamError) {
        guard !isFinished else { return }
        isFinished = true
        let handler = self.handler
        self.handler = nil
        handler?.didFail(error)
    }

    /// A failure on a connection: retried when the rules allow, otherwise reported.
    func failed(_ error: UpstreamError, reused: Bool, receivedBytes: Bool) {
        guard !isFinished else { return }
        connection = nil
        if let pool, pool.shouldRetry(self, error: error, reused: reused, receivedBytes: receivedBytes) {
            pool.dispatch(self, allowReuse: false)
        } else {
            fail(error)
        }
    }
}

/// Buffers a whole response for ``UpstreamPool/send(_:maxBodyBytes:completion:)``.
final class BufferingResponseHandler: UpstreamResponseHandler {
    let maxBodyBytes: Int
    var completion: ((Result<HTTPResponse, UpstreamError>) -> Void)?
    weak var call: UpstreamCall?
    private var response = HTTPResponse(status: 0)

    init(maxBodyBytes: Int, completion: @escaping (Result<HTTPResponse, UpstreamError>) -> Void) {
        self.maxBodyBytes = maxBodyBytes
        self.completion = completion
    }

    func didReceiveHead(_ head: HTTPResponseHead) {
        response.head = head
        if let length = head.headers["Content-Length"].flatMap(RequestHeadRules.parseContentLength),
            length <= maxBodyBytes
        {
            response.body.reserveCapacity(length)
        }
    }

    func didReceiveBody(_ chunk: [UInt8]) {
        guard response.body.count + chunk.count <= maxBodyBytes else {
            let completion = self.completion
            self.completion = nil
            call?.cancel()
            completion?(.failure(UpstreamError(.responseTooLarge, "response body over \(maxBodyBytes) bytes")))
            return
        }
        response.body.append(contentsOf: chunk)
    }

    func didFinish() {
        completion?(.success(response))
        completion = nil
    }

    func didFail(_ error: UpstreamError) {
        completion?(.failure(error))
        completion = nil
    }
}
