// The HTTP/1.1 request side as a pure state machine: bytes in, events out, no sockets or timers. The
// server connection feeds it what the stream delivers and carries out the events. One decoder (and one
// http_parser) per connection, reused for every request on it.

/// What the decoder produced from the bytes fed so far.
enum RequestDecoderEvent {
    /// Nothing complete yet; read more.
    case needMore
    /// The head asked for `Expect: 100-continue` and the body has not started: send `100 Continue`.
    case sendContinue
    /// A complete request. `keepAlive` is false when this must be the last request on the connection.
    case request(HTTPRequest, keepAlive: Bool)
    /// A framing error: answer with its status, then close. The decoder stays failed.
    case failed(HTTPParseError)
}

struct HTTP1RequestDecoder {
    private enum State {
        case head
        case body(BodyFraming)
        case failed
    }

    enum BodyFraming {
        case length(remaining: Int)
        case chunked(ChunkedDecoder)
    }

    let limits: HTTPServerLimits
    private var state = State.head
    private var scanner: HeadScanner
    private let headParser = HTTPHeadParser(isRequest: true)
    // The request whose body is being read; kept outside `state` so its body array stays uniquely
    // referenced and appends never copy it.
    private var request = HTTPRequest(method: "", target: "")
    private var keepAlive = true

    init(limits: HTTPServerLimits) {
        self.limits = limits
        scanner = HeadScanner(
            isRequest: true, maxStartLine: limits.maxRequestLineBytes, maxHeaderBytes: limits.maxHeaderBytes,
            maxHeaderCount: limits.maxHeaderCount)
    }

    /// True while part of a request (head or body) has been received but not completed.
    var hasPartialRequest: Bool {
        switch state {
        case .head: scanner.hasStarted
        case .body: true
        case .failed: false
        }
    }

    /// True once the head of the current request is complete and its body is being read.
    var isReadingBody: Bool {
        if case .body = state { return true }
        return false
    }

    /// Decodes from the front of `buffer`, consuming what it used. Call again after `.sendContinue` and
    /// after a `.request` to get the next pipelined request.
    mutating func next(_ buffer: inout ByteAccumulator) -> RequestDecoderEvent {
        switch state {
        case .failed: return .needMore
        case .head: return decodeHead(&buffer)
        case .body(let framing): return decodeBody(&buffer, framing: framing)
        }
    }

    // MARK: - Head

    private mutating func decodeHead(_ buffer: inout ByteAccumulator) -> RequestDecoderEvent {
        while true {
            let outcome = buffer.withReadableBytes { scanner.scan($0) }
            switch outcome {
            case .needMore:
                return .needMore
            case .failed(let error):
                return fail(error)
            case .startLine(let end):
                let line = buffer.copy(0..<end)
                if let error = RequestLineRules.check(line) { return fail(error) }
            case .complete(let length):
                let parsed = buffer.withReadableBytes {
                    headParser.parse(UnsafeRawBufferPointer(rebasing: $0[0..<length]))
                }
                buffer.consume(length)
                scanner.reset()
                switch parsed {
                case .failure(let error): return fail(error)
                case .success(let head): return startBody(head, &buffer)
                }
            }
        }
    }

    private mutating func startBody(_ head: ParsedHead, _ buffer: inout ByteAccumulator) -> RequestDecoderEvent {
        let version: HTTPVersion = head.minor == 0 ? .http1_0 : .http1_1
        let framing: RequestHeadRules.Framing
        let keepAlive: Bool
        switch RequestHeadRules.check(head, version: version, limits: limits) {
        case .failure(let error): return fail(error)
        case .success(let result): (framing, keepAlive) = result
        }
        let parsed = HTTPRequest(method: head.method, target: head.target, version: version, headers: head.headers)
        switch framing.body {
        case .none:
            return .request(parsed, keepAlive: keepAlive)
        case .length(let n):
            request = parsed
            request.body.reserveCapacity(n)
            state = .body(.length(remaining: n))
        case .chunked:
            request = parsed
            state = .body(.chunked(ChunkedDecoder(allowTrailers: false)))
        }
        self.keepAlive = keepAlive
        if framing.expectContinue && buffer.isEmpty {
            return .sendContinue
        }
        return next(&buffer)
    }

    // MARK: - Body

    private mutating func decodeBody(_ buffer: inout ByteAccumulator, framing: BodyFraming) -> RequestDecoderEvent {
        switch framing {
        case .length(let remaining):
            let n = min(remaining, buffer.readableCount)
            buffer.withReadableBytes { request.body.append(contentsOf: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            buffer.consume(n)
            if n == remaining { return completeRequest() }
            state = .body(.length(remaining: remaining - n))
            return .needMore
        case .chunked(var decoder):
            let maxBody = limits.maxBodyBytes
            var body = request.body
            request.body = []
            let step = buffer.withReadableBytes { input in
                decoder.decode(input) { chunk in
                    guard body.count + chunk.count <= maxBody else { return false }
                    body.append(contentsOf: chunk)
                    return true
                }
            }
            request.body = body
            switch step {
            case .failed(let error):
                return fail(error)
            case .progress(let consumed):
                buffer.consume(consumed)
                state = .body(.chunked(decoder))
                return .needMore
            case .finished(let consumed):
                buffer.consume(consumed)
                return completeRequest()
            }
        }
    }

    private mutating func completeRequest() -> RequestDecoderEvent {
        state = .head
        let complete = request
        request = HTTPRequest(method: "", target: "")
        return .request(complete, keepAlive: keepAlive)
    }

    private mutating func fail(_ error: HTTPParseError) -> RequestDecoderEvent {
        state = .failed
        return .failed(error)
    }
}
