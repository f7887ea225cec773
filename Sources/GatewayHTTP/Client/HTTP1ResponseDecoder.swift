// The upstream response side as a pure state machine. The framing rules are as strict as on the client
// side: a response the gateway cannot frame unambiguously (Content-Length with Transfer-Encoding, a bad or
// repeated Content-Length, an unknown transfer coding, bare LF, obs-fold) is an invalid response (502) and
// its connection is never reused. Interim 1xx responses are skipped; HEAD, 204 and 304 have no body
// (RFC 9112 §6.3).

/// What the response decoder produced.
enum ResponseDecoderEvent: Equatable {
    case needMore
    case head(HTTPResponseHead)
    case body([UInt8])
    /// The response ended; `reusable` says whether the connection may carry another request.
    case end(reusable: Bool)
    case failed(String)

    static func == (lhs: ResponseDecoderEvent, rhs: ResponseDecoderEvent) -> Bool {
        switch (lhs, rhs) {
        case (.needMore, .needMore): true
        case (.head(let a), .head(let b)): a.status == b.status && a.headers == b.headers
        case (.body(let a), .body(let b)): a == b
        case (.end(let a), .end(let b)): a == b
        case (.failed(let a), .failed(let b)): a == b
        default: false
        }
    }
}

struct HTTP1ResponseDecoder {
    private enum State {
        case idle
        case head
        case body(Framing)
        case done
        case failed
    }

    private enum Framing {
        case none
        case length(remaining: Int)
        case chunked(ChunkedDecoder)
        case untilClose
    }

    private var state = State.idle
    private var scanner: HeadScanner
    private let headParser = HTTPHeadParser(isRequest: false)
    private var requestMethod = "GET"
    private var keepAlive = true
    private(set) var hasReceivedBytes = false

    init(maxHeaderBytes: Int = 64 * 1024, maxHeaderCount: Int = 256) {
        scanner = HeadScanner(
            isRequest: false, maxStartLine: 8 * 1024, maxHeaderBytes: maxHeaderBytes, maxHeaderCount: maxHeaderCount)
    }

    /// Prepares for the response to a request with `method`.
    mutating func expectResponse(to method: String) {
        state = .head
        requestMethod = method
        keepAlive = true
        hasReceivedBytes = false
        scanner.reset()
    }

    /// True once the current response ended.
    var isDone: Bool {
        if case .done = state { return true }
        return false
    }

    /// True while the body runs until the connection closes.
    var isCloseDelimited: Bool {
        if case .body(.untilClose) = state { return true }
        return false
    }

    mutating func next(_ buffer: inout ByteAccumulator) -> ResponseDecoderEvent {
        if !buffer.isEmpty { hasReceivedBytes = true }
        switch state {
        case .idle, .done:
            // Bytes nobody asked for: the upstream's framing is off, so the connection is unusable.
            return buffer.isEmpty ? .needMore : fail("unsolicited bytes from the upstream")
        case .failed: return .needMore
        case .head: return decodeHead(&buffer)
        case .body(let framing): return decodeBody(&buffer, framing)
        }
    }

    /// The upstream closed the connection: ends a close-delimited body, otherwise the response is cut.
    mutating func connectionClosed() -> ResponseDecoderEvent {
        switch state {
        case .body(.untilClose):
            state = .done
            return .end(reusable: false)
        case .idle, .done, .failed:
            return .needMore
        default:
            return fail("upstream closed the connection mid-response")
        }
    }

    /// Takes body bytes straight from a read when the body is length- or close-delimited (nil otherwise).
    mutating func takeBodyDirectly(_ bytes: UnsafeRawBufferPointer) -> (body: [UInt8], consumed: Int)? {
        guard bytes.count > 0, case .body(let framing) = state else { return nil }
        hasReceivedBytes = true
        switch framing {
        case .untilClose:
            return (Array(bytes), bytes.count)
        case .length(let remaining):
            let n = min(remaining, bytes.count)
            state = n == remaining ? .body(.none) : .body(.length(remaining: remaining - n))
            return (Array(UnsafeRawBufferPointer(rebasing: bytes[0..<n])), n)
        default:
            return nil
        }
    }

    private mutating func decodeHead(_ buffer: inout ByteAccumulator) -> ResponseDecoderEvent {
        while true {
            switch buffer.withReadableBytes({ scanner.scan($0) }) {
            case .needMore: return .needMore
            case .failed(let error): return fail(error.message)
            case .startLine: continue
            case .complete(let length):
                let parsed = buffer.withReadableBytes {
                    headParser.parse(UnsafeRawBufferPointer(rebasing: $0[0..<length]))
                }
                buffer.consume(length)
                scanner.reset()
                switch parsed {
                case .failure(let error): return fail(error.message)
                case .success(let head):
                    if (100..<200).contains(head.status) && head.status != 101 { continue }  // interim, skipped
                    return startBody(head)
                }
            }
        }
    }

    private mutating func startBody(_ head: ParsedHead) -> ResponseDecoderEvent {
        guard head.major == 1, head.minor <= 1 else { return fail("unsupported upstream HTTP version") }
        guard (200...599).contains(head.status) else { return fail("unexpected status \(head.status)") }
        let version: HTTPVersion = head.minor == 0 ? .http1_0 : .http1_1
        // One pass over the fields for the three that decide framing and reuse.
        var lengths: [String] = [], encodings: [String] = [], connection: [String] = []
        for (name, value) in head.headers {
            if name.caseInsensitiveEquals("Content-Length") {
                lengths.append(value)
            } else if name.caseInsensitiveEquals("Transfer-Encoding") {
                encodings.append(value)
            } else if name.caseInsensitiveEquals("Connection") {
                connection.append(value)
            }
        }
        keepAlive = RequestHeadRules.keepAlive(connectionValues: connection, version: version)
        let framing: Framing
        if requestMethod == "HEAD" || head.status == 204 || head.status == 304 {
            framing = .none
        } else if !lengths.isEmpty && !encodings.isEmpty {
            return fail("Content-Length together with Transfer-Encoding")
        } else if !encodings.isEmpty {
            guard encodings.count == 1, encodings[0] == "chunked", version == .http1_1 else {
                return fail("unsupported Transfer-Encoding")
            }
            framing = .chunked(ChunkedDecoder(allowTrailers: true))
        } else if !lengths.isEmpty {
            guard lengths.count == 1, let n = RequestHeadRules.parseContentLength(lengths[0]) else {
                return fail("invalid Content-Length")
            }
            framing = n == 0 ? .none : .length(remaining: n)
        } else {
            framing = .untilClose
            keepAlive = false
        }
        state = .body(framing)
        return .head(HTTPResponseHead(status: head.status, headers: head.headers))
    }

    private mutating func decodeBody(_ buffer: inout ByteAccumulator, _ framing: Framing) -> ResponseDecoderEvent {
        switch framing {
        case .none:
            state = .done
            return .end(reusable: keepAlive)
        case .untilClose:
            guard !buffer.isEmpty else { return .needMore }
            let chunk = buffer.copy(0..<buffer.readableCount)
            buffer.consume(chunk.count)
            return .body(chunk)
        case .length(let remaining):
            guard !buffer.isEmpty else { return .needMore }
            let n = min(remaining, buffer.readableCount)
            let chunk = buffer.copy(0..<n)
            buffer.consume(n)
            state = n == remaining ? .body(.none) : .body(.length(remaining: remaining - n))
            return .body(chunk)
        case .chunked(var decoder):
            guard !buffer.isEmpty else { return .needMore }
            var chunk: [UInt8] = []
            let step = buffer.withReadableBytes { input in
                decoder.decode(input) { piece in
                    chunk.append(contentsOf: piece)
                    return true
                }
            }
            switch step {
            case .failed(let error):
                return fail(error.message)
            case .progress(let consumed):
                buffer.consume(consumed)
                state = .body(.chunked(decoder))
            case .finished(let consumed):
                buffer.consume(consumed)
                state = .body(.none)
            }
            if chunk.isEmpty { return next(&buffer) }
            return .body(chunk)
        }
    }

    private mutating func fail(_ message: String) -> ResponseDecoderEvent {
        state = .failed
        return .failed(message)
    }
}
