// Writes the response to one request, either whole (`respond`) or streamed (`sendHead`, `sendBody`,
// `end`). Framing is chosen here: Content-Length when known, otherwise chunked for HTTP/1.1 and
// close-delimited for HTTP/1.0; HEAD, 1xx, 204 and 304 responses carry no body (RFC 9110 §6.4.1).

/// The response side of one request. Loop-confined: call it only on the connection's event loop.
public final class HTTPResponder {
    enum Framing: Equatable {
        case none
        case length(remaining: Int)
        case chunked
        case closeDelimited
    }

    private enum State {
        case initial
        case streaming(Framing)
        case done
    }

    private weak var connection: HTTP1ServerConnection?
    /// Set instead of `connection` when the response goes to an HTTP/2 stream (see ``HTTPResponseSink``).
    private var sink: (any HTTPResponseSink)?
    let requestMethod: String
    let requestVersion: HTTPVersion
    /// False when the connection closes after this response.
    private(set) var keepAlive: Bool
    private var state = State.initial
    private var writableCallbackPending = false

    /// Called (once) when the stream drained after ``isWritable`` was observed false.
    public var onWritable: (() -> Void)?
    /// Called if the client connection closes before the response ended; the handler should stop work.
    public var onClose: (() -> Void)?

    init(connection: HTTP1ServerConnection, method: String, version: HTTPVersion, keepAlive: Bool) {
        self.connection = connection
        self.requestMethod = method
        self.requestVersion = version
        self.keepAlive = keepAlive
    }

    /// A responder whose framing is done by `sink` (an HTTP/2 stream) instead of HTTP/1 serialisation.
    init(sink: any HTTPResponseSink, method: String) {
        self.sink = sink
        self.requestMethod = method
        self.requestVersion = .http2
        self.keepAlive = true
    }

    /// True while the client connection is open and the response has not ended.
    public var isOpen: Bool {
        if case .done = state { return false }
        if let sink { return sink.sinkIsOpen }
        return connection?.isOpen ?? false
    }

    /// False while too many response bytes are queued; wait for ``onWritable`` before sending more.
    public var isWritable: Bool {
        if let sink {
            let writable = sink.sinkIsWritable()
            if !writable { writableCallbackPending = true }
            return writable
        }
        guard let connection else { return false }
        let writable = connection.pendingWriteBytes < connection.limits.writeHighWatermarkBytes
        if !writable {
            writableCallbackPending = true
            connection.blockedOnWrite()
        }
        return writable
    }

    /// Sends a complete response and ends it.
    public func respond(_ response: HTTPResponse) {
        if let sink { return respondThroughSink(sink, response) }
        guard case .initial = state, let connection else { return }
        let bodyless = isBodyless(status: response.status)
        var length: Int? = response.body.count
        if bodyless {
            // A HEAD answer may announce the length a GET would have had (RFC 9110 §9.3.2); 1xx, 204 and
            // 304 carry none.
            let announced = singleContentLength(response.headers)
            length = carriesLength(status: response.status) ? (announced ?? response.body.count) : nil
        }
        var bytes = head(status: response.status, headers: response.headers, contentLength: length, chunked: false)
        state = .done
        if !bodyless && !response.body.isEmpty {
            if response.body.count <= 16 * 1024 {
                bytes.append(contentsOf: response.body)
                connection.write(bytes)
            } else {
                connection.write(bytes)
                connection.write(response.body)
            }
        } else {
            connection.write(bytes)
        }
        connection.responseEnded(self, reusable: true)
    }

    /// Starts a streamed response. A valid `Content-Length` in `head` fixes the body length; without
    /// one the body is chunked (HTTP/1.1) or delimited by closing the connection (HTTP/1.0).
    public func sendHead(_ head: HTTPResponseHead) {
        if let sink { return sendHeadThroughSink(sink, head) }
        guard case .initial = state, let connection else { return }
        let framing: Framing
        var length: Int?
        if isBodyless(status: head.status) {
            framing = .none
            length = carriesLength(status: head.status) ? singleContentLength(head.headers) : nil
        } else if let declared = singleContentLength(head.headers) {
            framing = .length(remaining: declared)
            length = declared
        } else if requestVersion == .http1_1 {
            framing = .chunked
        } else {
            framing = .closeDelimited
            keepAlive = false
        }
        state = .streaming(framing)
        let chunked = framing == .chunked
        let bytes = self.head(status: head.status, headers: head.headers, contentLength: length, chunked: chunked)
        connection.write(bytes)
    }

    /// Sends part of a streamed body. Bytes beyond a declared Content-Length abort the connection.
    public func sendBody(_ chunk: [UInt8]) {
        if let sink { return sendBodyThroughSink(sink, chunk) }
        guard case .streaming(let framing) = state, let connection, !chunk.isEmpty else { return }
        switch framing {
        case .none:
            return
        case .length(let remaining):
            guard chunk.count <= remaining else {
                // The producer broke its own framing; nothing correct can follow on this connection.
                state = .done
                connection.abortResponse(self)
                return
            }
            state = .streaming(.length(remaining: remaining - chunk.count))
            connection.write(chunk)
        case .chunked:
            var framed = HTTP1Serializer.chunkPrefix(chunk.count)
            framed.reserveCapacity(framed.count + chunk.count + 2)
            framed.append(contentsOf: chunk)
            framed.append(contentsOf: HTTP1Serializer.crlf)
            connection.write(framed)
        case .closeDelimited:
            connection.write(chunk)
        }
    }

    /// Ends a streamed response.
    public func end() {
        if let sink { return endThroughSink(sink) }
        guard case .streaming(let framing) = state, let connection else { return }
        state = .done
        switch framing {
        case .none:
            connection.responseEnded(self, reusable: true)
        case .length(let remaining):
            if remaining == 0 {
                connection.responseEnded(self, reusable: true)
            } else {
                // Fewer bytes than announced: the client must see a broken response, not a short one.
                connection.abortResponse(self)
            }
        case .chunked:
            connection.write(HTTP1Serializer.lastChunk)
            connection.responseEnded(self, reusable: true)
        case .closeDelimited:
            connection.responseEnded(self, reusable: false)
        }
    }

    /// Aborts the response and closes the connection (for example when the upstream failed mid-body).
    public func abort() {
        if let sink {
            guard isOpen else { return }
            state = .done
            return sink.sinkAbort()
        }
        guard isOpen, let connection else { return }
        state = .done
        connection.abortResponse(self)
    }

    // MARK: - Internals

    func connectionDidDrain() {
        guard writableCallbackPending, isOpen else { return }
        writableCallbackPending = false
        onWritable?()
    }

    func connectionDidClose() {
        guard case .done = state else {
            state = .done
            onClose?()
            return
        }
    }

    /// Sets keep-alive off before the head is written (drain, or the client asked to close).
    func forceClose() { keepAlive = false }

    var hasStarted: Bool {
        if case .initial = state { return false }
        return true
    }

    // MARK: - HTTP/2 sink

    private func respondThroughSink(_ sink: any HTTPResponseSink, _ response: HTTPResponse) {
        guard case .initial = state, sink.sinkIsOpen else { return }
        state = .done
        let status = response.status
        if isBodyless(status: status) {
            let announced = singleContentLength(response.headers) ?? response.body.count
            let length = carriesLength(status: status) ? announced : nil
            sink.sinkSendHead(response.head, contentLength: length, endStream: true)
        } else if response.body.isEmpty {
            sink.sinkSendHead(response.head, contentLength: 0, endStream: true)
        } else {
            sink.sinkSendResponse(response.head, body: response.body)
        }
    }

    private func sendHeadThroughSink(_ sink: any HTTPResponseSink, _ head: HTTPResponseHead) {
        guard case .initial = state, sink.sinkIsOpen else { return }
        if isBodyless(status: head.status) {
            // The stream ends with the head; `end()` later has nothing left to do.
            state = .streaming(.none)
            let length = carriesLength(status: head.status) ? singleContentLength(head.headers) : nil
            sink.sinkSendHead(head, contentLength: length, endStream: true)
        } else if let declared = singleContentLength(head.headers) {
            state = .streaming(.length(remaining: declared))
            sink.sinkSendHead(head, contentLength: declared, endStream: declared == 0)
        } else {
            // HTTP/2 frames the body itself (RFC 9113 §8.1): no length is needed.
            state = .streaming(.chunked)
            sink.sinkSendHead(head, contentLength: nil, endStream: false)
        }
    }

    private func sendBodyThroughSink(_ sink: any HTTPResponseSink, _ chunk: [UInt8]) {
        guard case .streaming(let framing) = state, !chunk.isEmpty else { return }
        switch framing {
        case .none:
            return
        case .length(let remaining):
            guard chunk.count <= remaining else {
                state = .done
                return sink.sinkAbort()
            }
            state = .streaming(.length(remaining: remaining - chunk.count))
            sink.sinkSendBody(chunk)
        case .chunked, .closeDelimited:
            sink.sinkSendBody(chunk)
        }
    }

    private func endThroughSink(_ sink: any HTTPResponseSink) {
        guard case .streaming(let framing) = state else { return }
        state = .done
        switch framing {
        case .none:
            sink.sinkEnd()
        case .length(let remaining) where remaining > 0:
            // Fewer bytes than announced: the client must see a reset stream, not a short body.
            sink.sinkAbort()
        case .length, .chunked, .closeDelimited:
            sink.sinkEnd()
        }
    }

    private func isBodyless(status: Int) -> Bool {
        requestMethod == "HEAD" || status < 200 || status == 204 || status == 304
    }

    /// Only a HEAD answer with a final, non-204/304 status announces a length without a body.
    private func carriesLength(status: Int) -> Bool {
        requestMethod == "HEAD" && status >= 200 && status != 204 && status != 304
    }

    private func singleContentLength(_ headers: HTTPHeaders) -> Int? {
        let values = headers.values("Content-Length")
        guard values.count == 1 else { return nil }
        return RequestHeadRules.parseContentLength(values[0])
    }

    private func head(status: Int, headers: HTTPHeaders, contentLength: Int?, chunked: Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        out.append(contentsOf: "HTTP/1.1 \(status) \(reasonPhrase(status))\r\n".utf8)
        HTTP1Serializer.appendModelFields(&out, headers)
        // The codec owns framing and connection fields: they come from the decisions made above.
        if let contentLength { HTTP1Serializer.appendField(&out, "Content-Length", String(contentLength)) }
        if chunked { HTTP1Serializer.appendField(&out, "Transfer-Encoding", "chunked") }
        if !headers.contains("Date"), let connection {
            HTTP1Serializer.appendField(&out, "Date", connection.currentDate())
        }
        if !keepAlive {
            HTTP1Serializer.appendField(&out, "Connection", "close")
        } else if requestVersion == .http1_0 {
            HTTP1Serializer.appendField(&out, "Connection", "keep-alive")
        }
        out.append(cr)
        out.append(lf)
        return out
    }
}
