// One HTTP/2 server connection on a ByteStream, framed by nghttp2 (C-INTEROP: callbacks reach this
// object through `user_data`). Each request stream becomes one `HTTPRequest` (version .http2, Host taken
// from `:authority`) handed to the same `HTTPServerHandler` as HTTP/1.1, and is answered through an
// `HTTPResponder` backed by the stream.
//
// Control flow: bytes go into `nghttp2_session_mem_recv`; callbacks only record what happened (streams
// to dispatch, responders to notify). When nghttp2 returns, `settle()` dispatches complete requests,
// runs the deferred notifications and pulls frames with `nghttp2_session_mem_send` until the transport's
// write queue reaches its watermark (backpressure towards the client); `streamDidDrain` pulls more.
// Requests are dispatched only after a whole read was processed, so a HEADERS frame cancelled by an
// RST_STREAM in the same read never reaches the handler (DOS-02).

import CNGHTTP2
public import GatewayCore
public import GatewayIO
import Glibc

/// Serves HTTP/2 on one (TLS, ALPN `h2`) byte stream. Loop-confined: create and use it on the stream's loop.
public final class HTTP2ServerConnection: ByteStreamDelegate, HTTPServerConnection {
    let stream: any ByteStream
    let limits: HTTPServerLimits
    let http2: HTTP2Limits
    private let handler: any HTTPServerHandler
    private let connectionID: UInt64
    private let renderError: HTTPErrorRenderer
    private let metrics: MetricsRegistry
    private let logger: Logger
    private var session: OpaquePointer?
    private var streams: [Int32: HTTP2Stream] = [:]
    private var ready: [HTTP2Stream] = []
    private var deferred: [() -> Void] = []
    private var busy = false
    private var closing = false
    private var closed = false
    private var draining = false
    /// Set by a callback when a flood limit was exceeded; the session then ends with ENHANCE_YOUR_CALM.
    private var violation: String?
    private var resets = RateWindow()
    private var settingsFrames = RateWindow()
    private var pings = RateWindow()
    private var continuationFrames = 0
    private var requestCount = 0
    private var bufferedBodyBytes = 0
    private var prefaceReceived = false
    private let startMs: UInt64
    private var idleSinceMs: UInt64
    private var writeBlockedSinceMs: UInt64?
    private var timer: TimerHandle?
    private var timerDeadlineMs: UInt64 = .max
    private var dateCache = HTTPDateCache()
    // Keeps the connection alive while its stream is open (the stream only references its delegate).
    private var retainedSelf: HTTP2ServerConnection?

    /// Called once when the connection has closed.
    public var onClose: ((HTTP2ServerConnection) -> Void)?

    /// Creates a connection; call ``start()`` to begin serving.
    ///
    /// - Parameters:
    ///   - stream: The accepted stream on which the client negotiated `h2`.
    ///   - handler: Receives each complete request (body buffered up to `limits.maxBodyBytes`).
    ///   - limits: Body size, timeouts and write watermark shared with HTTP/1.1.
    ///   - http2: HTTP/2 protocol limits.
    ///   - connectionID: A process-unique id for logs and ``HTTPRequestContext``.
    ///   - errorRenderer: Renders refused requests (400, 405, 413, 431, 501).
    ///   - metrics: Where `gateway_http2_stream_errors_total` and `gateway_http2_goaway_total` are counted.
    ///   - logger: Debug-level connection events.
    public init(
        stream: any ByteStream, handler: any HTTPServerHandler, limits: HTTPServerLimits = HTTPServerLimits(),
        http2: HTTP2Limits = HTTP2Limits(), connectionID: UInt64,
        errorRenderer: @escaping HTTPErrorRenderer = plainTextErrorResponse, metrics: MetricsRegistry = .shared,
        logger: Logger = .disabled
    ) {
        self.stream = stream
        self.handler = handler
        self.limits = limits
        self.http2 = http2
        self.connectionID = connectionID
        self.renderError = errorRenderer
        self.metrics = metrics
        self.logger = logger
        startMs = monotonicMilliseconds()
        idleSinceMs = startMs
    }

    deinit {
        if let session { nghttp2_session_del(session) }
    }

    /// Sends the server SETTINGS and starts reading. The client preface must arrive within the header timeout.
    public func start() {
        retainedSelf = self
        session = makeSession()
        guard let session else {
            stream.abort()
            return
        }
        submitSettings(session)
        stream.delegate = self
        settle()
    }

    /// Sends GOAWAY: streams already opened finish, new ones are refused, and the connection closes
    /// once the last stream ended (SIGTERM drain, RFC 9113 §6.8).
    public func drain() {
        guard isOpen, !draining, let session else { return }
        draining = true
        let last = nghttp2_session_get_last_proc_stream_id(session)
        nghttp2_submit_goaway(session, 0, last, HTTP2ErrorCode.noError, nil, 0)
        settle()
    }

    /// True until the connection has started closing.
    public var isOpen: Bool { !closing && !closed }

    /// Streams currently open (for tests and metrics).
    public var openStreamCount: Int { streams.count }

    // MARK: - ByteStreamDelegate

    public func streamDidRead(_ stream: any ByteStream, bytes: UnsafeRawBufferPointer) {
        guard isOpen, let session, let base = bytes.baseAddress, !bytes.isEmpty else { return }
        busy = true
        let result = nghttp2_session_mem_recv(session, base.assumingMemoryBound(to: UInt8.self), bytes.count)
        busy = false
        if result < 0 {
            receiveFailed(Int32(truncatingIfNeeded: result))
        }
        settle()
    }

    public func streamDidClose(_ stream: any ByteStream, error: (any Error)?) {
        guard !closed else { return }
        closed = true
        closing = true
        timer?.cancel()
        timer = nil
        stream.delegate = nil
        let open = Array(streams.values)
        streams.removeAll()
        ready.removeAll()
        for item in open { finishStream(item) }
        runDeferred()
        logger.debug("h2 connection closed", metadata: ["connection.id": String(connectionID)])
        onClose?(self)
        onClose = nil
        if !busy, let session {
            nghttp2_session_del(session)
            self.session = nil
        }
        retainedSelf = nil
    }

    public func streamDidDrain(_ stream: any ByteStream) {
        settle()
    }

    // MARK: - Session set-up

    private func makeSession() -> OpaquePointer? {
        var callbacks: OpaquePointer?
        guard nghttp2_session_callbacks_new(&callbacks) == 0, let callbacks else { return nil }
        defer { nghttp2_session_callbacks_del(callbacks) }
        HTTP2Callbacks.install(callbacks)
        var option: OpaquePointer?
        guard nghttp2_option_new(&option) == 0, let option else { return nil }
        defer { nghttp2_option_del(option) }
        // Credit for request bodies is returned by hand, so buffered bodies stay bounded (flow control).
        nghttp2_option_set_no_auto_window_update(option, 1)
        // A client that sends SETTINGS or PING but never reads cannot queue unbounded ACKs.
        nghttp2_option_set_max_outbound_ack(option, 100)
        nghttp2_option_set_max_settings(option, 32)
        var session: OpaquePointer?
        let user = Unmanaged.passUnretained(self).toOpaque()
        guard nghttp2_session_server_new2(&session, callbacks, user, option) == 0 else { return nil }
        return session
    }

    private func submitSettings(_ session: OpaquePointer) {
        let entries: [(Int32, UInt32)] = [
            (Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue), UInt32(clamping: http2.maxConcurrentStreams)),
            (Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), UInt32(clamping: http2.initialStreamWindowBytes)),
            (Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue), UInt32(clamping: http2.maxHeaderListBytes)),
        ]
        let settings = entries.map { nghttp2_settings_entry(settings_id: $0.0, value: $0.1) }
        _ = settings.withUnsafeBufferPointer { nghttp2_submit_settings(session, 0, $0.baseAddress, $0.count) }
        let window = Int32(clamping: http2.connectionWindowBytes)
        if window > 65_535 { nghttp2_session_set_local_window_size(session, 0, 0, window) }
    }

    // MARK: - After each nghttp2 call

    /// Dispatches complete requests, runs deferred notifications and writes what nghttp2 has queued,
    /// until nothing is left to do; then closes a finished session and re-arms the timer.
    func settle() {
        guard !busy, !closed else { return }
        busy = true
        repeat {
            dispatchReady()
            runDeferred()
            flushFrames()
        } while !ready.isEmpty || !deferred.isEmpty
        busy = false
        if closed {
            if let session {
                nghttp2_session_del(session)
                self.session = nil
            }
            return
        }
        closeIfFinished()
        rearmTimer()
    }

    private func runDeferred() {
        while !deferred.isEmpty {
            let work = deferred
            deferred.removeAll()
            for item in work { item() }
        }
    }

    private func flushFrames() {
        guard let session, !closed else { return }
        var out: [UInt8] = []
        let watermark = limits.writeHighWatermarkBytes
        while stream.pendingWriteBytes + out.count < watermark {
            var data: UnsafePointer<UInt8>?
            let count = nghttp2_session_mem_send(session, &data)
            if count < 0 {
                logger.debug("h2 send failed", metadata: ["connection.id": String(connectionID)])
                abortNow()
                return
            }
            guard count > 0, let data else { break }
            out.append(contentsOf: UnsafeBufferPointer(start: data, count: count))
        }
        if !out.isEmpty { stream.write(out) }
        if stream.pendingWriteBytes >= watermark {
            if writeBlockedSinceMs == nil { writeBlockedSinceMs = monotonicMilliseconds() }
        } else {
            writeBlockedSinceMs = nil
            notifyWritable()
        }
    }

    private func notifyWritable() {
        for item in streams.values where item.wantsWritable && isWritable(item) {
            item.wantsWritable = false
            if let responder = item.responder { deferred.append { responder.connectionDidDrain() } }
        }
    }

    private func closeIfFinished() {
        guard isOpen, let session else { return }
        let finished = nghttp2_session_want_read(session) == 0 && nghttp2_session_want_write(session) == 0
        if finished || (draining && streams.isEmpty && nghttp2_session_want_write(session) == 0) {
            closing = true
            stream.close()
        }
    }

    private func abortNow() {
        guard !closed else { return }
        closing = true
        stream.abort()
    }

    /// `mem_recv` failed: a flood limit (our callback), a bad preface or an internal error.
    private func receiveFailed(_ code: Int32) {
        guard let session else { return }
        ready.removeAll()  // nothing from a connection being torn down reaches the handler
        if let violation {
            metrics.counter(
                "gateway_http2_goaway_total", help: "HTTP/2 connections ended by the gateway",
                labels: [("reason", violation)]
            ).increment()
            logger.debug(
                "h2 limit exceeded", metadata: ["connection.id": String(connectionID), "http2.limit": violation])
            nghttp2_session_terminate_session(session, HTTP2ErrorCode.enhanceYourCalm)
        } else if code != Int32(NGHTTP2_ERR_BAD_CLIENT_MAGIC.rawValue) {
            nghttp2_session_terminate_session(session, HTTP2ErrorCode.protocolError)
        } else {
            abortNow()
        }
    }

    // MARK: - Dispatch

    private func dispatchReady() {
        guard !ready.isEmpty else { return }
        let batch = ready
        ready.removeAll()
        for item in batch where !item.closed && !item.dispatched && item.rejection == nil && isOpen {
            dispatch(item)
        }
    }

    private func dispatch(_ item: HTTP2Stream) {
        item.dispatched = true
        requestCount += 1
        var headers = HTTPHeaders()
        // One request model for both protocols: `:authority` becomes Host (RFC 9113 §8.3.1).
        if let host = item.head.authority ?? item.head.hosts.first { headers.add("Host", host) }
        for (name, value) in item.head.headers { headers.add(name, value) }
        // Kept for parity with HTTP/1.1; the body is complete and its length was checked against it.
        if let length = item.head.contentLengths.first { headers.add("content-length", length) }
        let method = item.head.method ?? "GET"
        let request = HTTPRequest(
            method: method, target: item.head.path ?? "/", version: .http2, headers: headers, body: item.body)
        let responder = HTTPResponder(sink: item, method: method)
        item.responder = responder
        let context = HTTPRequestContext(
            remoteAddress: stream.remoteAddress, tls: stream.tlsInfo, connectionID: connectionID,
            requestNumber: requestCount, eventLoop: stream.eventLoop)
        handler.handle(request, context: context, responder: responder)
    }

    /// Answers a refused request with an error response; the handler never sees it.
    private func refuse(_ item: HTTP2Stream, status: Int, message: String) {
        let responder = HTTPResponder(sink: item, method: item.head.method ?? "GET")
        item.responder = responder
        if !item.requestComplete { item.resetAfterResponse = true }
        item.requestComplete = true
        var response = renderError(status, message)
        if status == 405 { response.headers.add("Allow", RequestLineRules.allowHeader) }
        response.headers.remove("Content-Length")
        deferred.append { responder.respond(response) }
    }

    private func finishStream(_ item: HTTP2Stream) {
        item.closed = true
        bufferedBodyBytes -= item.body.count
        item.body = []
        if item.owedCredit > 0, let session, !closed {
            nghttp2_session_consume_connection(session, item.owedCredit)
        }
        item.owedCredit = 0
        if let responder = item.responder {
            deferred.append { responder.connectionDidClose() }
        }
        item.responder = nil
    }

    // MARK: - Called by streams (responder side)

    func isWritable(_ item: HTTP2Stream) -> Bool {
        let watermark = limits.writeHighWatermarkBytes
        return item.pendingOutbound < watermark && stream.pendingWriteBytes < watermark
    }

    func submitHead(_ item: HTTP2Stream, _ head: HTTPResponseHead, contentLength: Int?, endStream: Bool) {
        guard let session, !item.closed, isOpen else { return }
        var fields: [(String, String)] = [(":status", String(head.status))]
        for (name, value) in head.headers {
            let lower = name.lowercased()
            // The codec owns framing and connection fields (RFC 9113 §8.2.2).
            if HTTP2RequestRules.connectionSpecific.contains(lower) || lower == "content-length" || lower == "te" {
                continue
            }
            fields.append((lower, value))
        }
        if let contentLength { fields.append(("content-length", String(contentLength))) }
        if !head.headers.contains("Date") { fields.append(("date", dateCache.current())) }
        if endStream { item.outboundEnded = true }
        let rc: Int32
        if endStream {
            rc = submitResponse(session, item.id, fields, provider: nil)
        } else {
            var provider = nghttp2_data_provider()
            provider.read_callback = HTTP2Callbacks.readResponseBody
            rc = withUnsafePointer(to: &provider) { submitResponse(session, item.id, fields, provider: $0) }
        }
        if rc != 0 { nghttp2_submit_rst_stream(session, 0, item.id, HTTP2ErrorCode.internalError) }
        settle()
    }

    private func submitResponse(
        _ session: OpaquePointer, _ id: Int32, _ fields: [(String, String)],
        provider: UnsafePointer<nghttp2_data_provider>?
    ) -> Int32 {
        var storage: [UInt8] = []
        var spans: [(name: Int, nameLength: Int, value: Int, valueLength: Int)] = []
        for (name, value) in fields {
            let nameStart = storage.count
            storage.append(contentsOf: name.utf8)
            let valueStart = storage.count
            storage.append(contentsOf: value.utf8)
            spans.append((nameStart, valueStart - nameStart, valueStart, storage.count - valueStart))
        }
        return storage.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            let nva = spans.map {
                nghttp2_nv(
                    name: base + $0.name, value: base + $0.value, namelen: $0.nameLength, valuelen: $0.valueLength,
                    flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
            }
            return nva.withUnsafeBufferPointer {
                nghttp2_submit_response(session, id, $0.baseAddress, $0.count, provider)
            }
        }
    }

    func bodyQueued(_ item: HTTP2Stream) {
        guard let session, !item.closed else { return }
        if item.dataDeferred {
            item.dataDeferred = false
            nghttp2_session_resume_data(session, item.id)
        }
        settle()
    }

    func resetStream(_ item: HTTP2Stream, errorCode: UInt32) {
        guard let session, !item.closed else { return }
        nghttp2_submit_rst_stream(session, 0, item.id, errorCode)
        settle()
    }

    // MARK: - Callbacks (called by HTTP2Callbacks while nghttp2 runs)

    func frameBegins(type: UInt8, flags: UInt8, streamID: Int32) -> Bool {
        prefaceReceived = true
        let now = monotonicMilliseconds()
        switch type {
        case HTTP2FrameType.headers:
            continuationFrames = 0
        case HTTP2FrameType.continuation:
            // CONTINUATION floods keep a header block open forever (CVE-2024-27316 and relatives).
            continuationFrames += 1
            if continuationFrames > http2.maxContinuationFrames { return fail("continuation_flood") }
        case HTTP2FrameType.rstStream:
            if !resets.record(nowMs: now, limit: http2.maxResetsPerSecond) { return fail("rapid_reset") }
        case HTTP2FrameType.settings where flags & HTTP2Flag.ack == 0:
            if !settingsFrames.record(nowMs: now, limit: http2.maxSettingsPerSecond) { return fail("settings_flood") }
        case HTTP2FrameType.ping where flags & HTTP2Flag.ack == 0:
            if !pings.record(nowMs: now, limit: http2.maxPingsPerSecond) { return fail("ping_flood") }
        default:
            break
        }
        return true
    }

    private func fail(_ reason: String) -> Bool {
        if violation == nil { violation = reason }
        return false
    }

    func requestBegins(streamID: Int32) {
        streams[streamID] = HTTP2Stream(id: streamID, connection: self, nowMs: monotonicMilliseconds())
    }

    func trailersBegin(streamID: Int32) {
        guard let item = streams[streamID] else { return }
        item.inTrailers = true
        // SETTINGS_MAX_HEADER_LIST_SIZE bounds each field section, the trailer section too (RFC 9113 §6.5.2).
        item.head.listBytes = 0
    }

    /// One decoded field; false resets the stream (after `rejectMalformed` chose the error code).
    func headerField(streamID: Int32, name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let item = streams[streamID], item.rejection == nil else { return true }
        item.head.listBytes += name.count + value.count + 32
        if item.head.listBytes > http2.maxHeaderListBytes {
            // RFC 9113 §10.5.1: answered 431; the rest of the block is decoded (HPACK state) but not kept.
            item.rejection = .status(431, reason: "header_list_too_large", message: "header list too large")
            item.head.headers = HTTPHeaders()
            return true
        }
        if name.first == UInt8(ascii: ":") {
            guard !item.inTrailers else { return rejectMalformed(item, "pseudo_header_in_trailers") }
            return pseudoField(item, name: name, value: value)
        }
        if let rejection = HTTP2RequestRules.check(name: name, value: value) {
            if case .malformed(let reason) = rejection { return rejectMalformed(item, reason) }
            item.rejection = rejection
            return true
        }
        // Request trailers are checked like any field, then dropped (docs/configuration.md "Trailers"): the request
        // goes upstream as HTTP/1.1 with a Content-Length the gateway computed, which has no trailer section,
        // and no FHIR interaction gives a trailer a meaning (RFC 9110 §6.5.1 lets a recipient discard them).
        guard !item.inTrailers else { return true }
        let nameText = String(decoding: name, as: UTF8.self)
        let valueText = String(decoding: value, as: UTF8.self)
        switch nameText {
        case "host": item.head.hosts.append(valueText)
        case "content-length": item.head.contentLengths.append(valueText)
        default: item.head.headers.add(nameText, valueText)
        }
        return true
    }

    private func pseudoField(
        _ item: HTTP2Stream, name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>
    ) -> Bool {
        let valueText = String(decoding: value, as: UTF8.self)
        if value.contains(where: { $0 == 0 || $0 == cr || $0 == lf || $0 == sp }) {
            return rejectMalformed(item, "invalid_pseudo_header")
        }
        switch String(decoding: name, as: UTF8.self) {
        case ":method" where item.head.method == nil: item.head.method = valueText
        case ":path" where item.head.path == nil: item.head.path = valueText
        case ":scheme" where item.head.scheme == nil: item.head.scheme = valueText
        case ":authority" where item.head.authority == nil: item.head.authority = valueText
        default: return rejectMalformed(item, "invalid_pseudo_header")  // unknown or repeated (RFC 9113 §8.3)
        }
        return true
    }

    /// Also reached from nghttp2's invalid-header callback: a field nghttp2 would silently drop makes the
    /// whole message malformed here (SMG-06: never strip and forward).
    func invalidField(streamID: Int32) -> Bool {
        guard let item = streams[streamID] else { return true }
        return rejectMalformed(item, "invalid_header")
    }

    private func rejectMalformed(_ item: HTTP2Stream, _ reason: String) -> Bool {
        if item.rejection == nil {
            item.rejection = .malformed(reason)
            countStreamError(reason)
            if let session { nghttp2_submit_rst_stream(session, 0, item.id, HTTP2ErrorCode.protocolError) }
        }
        return false
    }

    private func countStreamError(_ reason: String) {
        metrics.counter(
            "gateway_http2_stream_errors_total", help: "HTTP/2 request streams refused as malformed or over limits",
            labels: [("reason", reason)]
        ).increment()
        logger.debug("h2 stream refused", metadata: ["connection.id": String(connectionID), "http.error": reason])
    }

    /// END_HEADERS of a request or trailer block.
    func headersComplete(streamID: Int32, endStream: Bool) {
        guard let item = streams[streamID] else { return }
        if !item.headersComplete {
            item.headersComplete = true
            item.headersDoneMs = monotonicMilliseconds()
            if item.rejection == nil { item.rejection = HTTP2RequestRules.check(item.head, limits: limits) }
            if let rejection = item.rejection {
                handleRejection(item, rejection)
                return
            }
        } else if item.inTrailers, let rejection = item.rejection, !item.requestComplete {
            // A trailer section over the header list limit or with a field the header block would have been
            // refused for: the request is refused the same way (it was not dispatched: END_STREAM comes with
            // the trailers), and its buffered body is released.
            bufferedBodyBytes -= item.body.count
            item.body = []
            handleRejection(item, rejection)
            return
        }
        if endStream { requestEnded(item) }
    }

    private func handleRejection(_ item: HTTP2Stream, _ rejection: HTTP2Rejection) {
        switch rejection {
        case .malformed(let reason):
            _ = rejectMalformed(item, reason)
            item.rejection = rejection
        case .status(let status, let reason, let message):
            countStreamError(reason)
            refuse(item, status: status, message: message)
        }
    }

    func dataChunk(streamID: Int32, bytes: UnsafeBufferPointer<UInt8>) {
        guard let session else { return }
        guard let item = streams[streamID], item.isReceivingBody else {
            // Bytes for a refused stream are dropped at once; their credit goes straight back.
            nghttp2_session_consume(session, streamID, bytes.count)
            return
        }
        item.receivedBodyBytes += bytes.count
        if let declared = item.head.contentLengths.first.flatMap(RequestHeadRules.parseContentLength),
            item.receivedBodyBytes > declared
        {
            nghttp2_session_consume(session, streamID, bytes.count)
            _ = rejectMalformed(item, "content_length_mismatch")  // RFC 9113 §8.1.1
            return
        }
        if item.receivedBodyBytes > limits.maxBodyBytes
            || (RequestHeadRules.bodilessMethods.contains(item.head.method ?? "") && !bytes.isEmpty)
        {
            nghttp2_session_consume(session, streamID, bytes.count)
            let tooLarge = item.receivedBodyBytes > limits.maxBodyBytes
            let rejection = tooLarge
                ? HTTP2Rejection.status(413, reason: "body_too_large", message: "body too large")
                : .status(400, reason: "body_not_allowed", message: "requests with this method must not have a body")
            item.rejection = rejection
            bufferedBodyBytes -= item.body.count
            item.body = []
            handleRejection(item, rejection)
            return
        }
        item.body.append(contentsOf: bytes)
        bufferedBodyBytes += bytes.count
        item.owedCredit += bytes.count
        returnCredit()
    }

    /// Returns flow-control credit for buffered bodies while the connection's budget allows, and always
    /// to the oldest stream still receiving, so one request can always complete.
    private func returnCredit() {
        guard let session else { return }
        let oldest = streams.values.filter(\.isReceivingBody).map(\.id).min()
        for item in streams.values where item.owedCredit > 0 {
            guard bufferedBodyBytes <= http2.maxBufferedBodyBytes || item.id == oldest else { continue }
            nghttp2_session_consume(session, item.id, item.owedCredit)
            item.owedCredit = 0
        }
    }

    /// END_STREAM on the request.
    func requestEnded(streamID: Int32) {
        guard let item = streams[streamID] else { return }
        requestEnded(item)
    }

    private func requestEnded(_ item: HTTP2Stream) {
        guard item.rejection == nil, !item.requestComplete else { return }
        if let declared = item.head.contentLengths.first.flatMap(RequestHeadRules.parseContentLength),
            declared != item.receivedBodyBytes
        {
            _ = rejectMalformed(item, "content_length_mismatch")  // RFC 9113 §8.1.1
            return
        }
        item.requestComplete = true
        ready.append(item)
    }

    func frameSent(type: UInt8, flags: UInt8, streamID: Int32, errorCode: UInt32) {
        if type == HTTP2FrameType.rstStream && errorCode == HTTP2ErrorCode.protocolError {
            // Malformed requests count against the reset budget like client resets do.
            if !resets.record(nowMs: monotonicMilliseconds(), limit: http2.maxResetsPerSecond) {
                violation = violation ?? "rapid_reset"
                if let session { nghttp2_session_terminate_session(session, HTTP2ErrorCode.enhanceYourCalm) }
            }
        }
        if (type == HTTP2FrameType.headers || type == HTTP2FrameType.data) && flags & HTTP2Flag.endStream != 0,
            let item = streams[streamID], item.resetAfterResponse, let session
        {
            nghttp2_submit_rst_stream(session, 0, streamID, HTTP2ErrorCode.noError)
        }
    }

    func streamClosed(streamID: Int32) {
        guard let item = streams.removeValue(forKey: streamID) else { return }
        finishStream(item)
        returnCredit()
        if streams.isEmpty { idleSinceMs = monotonicMilliseconds() }
    }

    /// nghttp2 asks for response body bytes.
    func readBody(
        streamID: Int32, into buffer: UnsafeMutablePointer<UInt8>, length: Int, flags: UnsafeMutablePointer<UInt32>
    ) -> Int {
        guard let item = streams[streamID] else { return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue) }
        let count = item.takeOutbound(into: buffer, count: length)
        if item.pendingOutbound == 0 {
            if item.outboundEnded {
                flags.pointee |= UInt32(NGHTTP2_DATA_FLAG_EOF.rawValue)
            } else if count == 0 {
                item.dataDeferred = true
                return Int(NGHTTP2_ERR_DEFERRED.rawValue)
            }
        }
        return count
    }

    // MARK: - Timers

    private func rearmTimer() {
        guard isOpen else { return }
        let next = nextDeadline()
        guard next < timerDeadlineMs || timer == nil else { return }
        timer?.cancel()
        guard next != .max else {
            timer = nil
            timerDeadlineMs = .max
            return
        }
        timerDeadlineMs = next
        let delay = next &- min(next, monotonicMilliseconds())
        timer = stream.eventLoop.schedule(afterMilliseconds: max(1, delay)) { [weak self] in self?.timerFired() }
    }

    private func nextDeadline() -> UInt64 {
        var next = UInt64.max
        if !prefaceReceived { next = min(next, startMs + limits.headerReadTimeoutMs) }
        if streams.isEmpty { next = min(next, idleSinceMs + limits.idleTimeoutMs) }
        if let blocked = writeBlockedSinceMs { next = min(next, blocked + limits.writeTimeoutMs) }
        for item in streams.values {
            if !item.headersComplete {
                next = min(next, item.createdMs + limits.headerReadTimeoutMs)
            } else if item.isReceivingBody {
                next = min(next, item.headersDoneMs + limits.bodyReadTimeoutMs)
            }
        }
        return next
    }

    private func timerFired() {
        timer = nil
        timerDeadlineMs = .max
        guard isOpen, let session else { return }
        let now = monotonicMilliseconds()
        if let blocked = writeBlockedSinceMs, now >= blocked + limits.writeTimeoutMs {
            return abortNow()  // the client stopped reading responses
        }
        let headerStalled = streams.values.contains {
            !$0.headersComplete && now >= $0.createdMs + limits.headerReadTimeoutMs
        }
        if (!prefaceReceived && now >= startMs + limits.headerReadTimeoutMs) || headerStalled {
            // A header block still open blocks the whole connection (RFC 9113 §6.10): end it (DOS-01).
            nghttp2_session_terminate_session(session, HTTP2ErrorCode.enhanceYourCalm)
        } else if streams.isEmpty && now >= idleSinceMs + limits.idleTimeoutMs {
            nghttp2_session_terminate_session(session, HTTP2ErrorCode.noError)
        } else {
            let expired = streams.values.filter {
                $0.isReceivingBody && now >= $0.headersDoneMs + limits.bodyReadTimeoutMs
            }
            for item in expired {
                nghttp2_submit_rst_stream(session, 0, item.id, HTTP2ErrorCode.cancel)
            }
        }
        settle()
    }
}

/// Milliseconds of CLOCK_MONOTONIC (deadlines only).
func monotonicMilliseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1000 + UInt64(now.tv_nsec) / 1_000_000
}
