// One HTTP/2 request stream: the request as it is decoded, the buffered body, and the queued response
// body that nghttp2 pulls through its data provider. It is the `HTTPResponseSink` behind the stream's
// `HTTPResponder`.

/// State of one stream. Loop-confined; owned by its ``HTTP2ServerConnection`` until the stream closes.
final class HTTP2Stream: HTTPResponseSink {
    let id: Int32
    private(set) weak var connection: HTTP2ServerConnection?
    var head = HTTP2RequestHead()
    var rejection: HTTP2Rejection?
    /// True after END_HEADERS of the request header block.
    var headersComplete = false
    /// True once the request ended (END_STREAM seen) or was refused.
    var requestComplete = false
    /// True while a trailer block is being decoded (its fields are checked, then dropped).
    var inTrailers = false
    var body: [UInt8] = []
    /// Body bytes received (kept or not).
    var receivedBodyBytes = 0
    /// Body bytes received whose flow-control credit was not returned yet.
    var owedCredit = 0
    var dispatched = false
    var responder: HTTPResponder?
    var closed = false
    /// After our response ended while the request still streams, reset with NO_ERROR (RFC 9113 §8.1).
    var resetAfterResponse = false
    let createdMs: UInt64
    var headersDoneMs: UInt64 = 0

    /// Response body bytes waiting for nghttp2 to frame them.
    var outbound: [UInt8] = []
    var outboundOffset = 0
    var outboundEnded = false
    /// nghttp2 was told to wait (NGHTTP2_ERR_DEFERRED) and needs `resume_data` when bytes arrive.
    var dataDeferred = false
    /// The responder saw `isWritable == false` and waits for a drain notification.
    var wantsWritable = false

    init(id: Int32, connection: HTTP2ServerConnection, nowMs: UInt64) {
        self.id = id
        self.connection = connection
        self.createdMs = nowMs
    }

    var pendingOutbound: Int { outbound.count - outboundOffset }

    /// Still receiving the request body (and allowed to).
    var isReceivingBody: Bool { headersComplete && !requestComplete && rejection == nil }

    /// Copies up to `count` queued response bytes to `destination`; returns how many.
    func takeOutbound(into destination: UnsafeMutablePointer<UInt8>, count: Int) -> Int {
        let n = min(count, pendingOutbound)
        guard n > 0 else { return 0 }
        outbound.withUnsafeBufferPointer { source in
            destination.update(from: source.baseAddress! + outboundOffset, count: n)
        }
        outboundOffset += n
        if outboundOffset == outbound.count {
            outbound.removeAll(keepingCapacity: outbound.count <= 64 * 1024)
            outboundOffset = 0
        }
        return n
    }

    // MARK: - HTTPResponseSink

    var sinkIsOpen: Bool { !closed && (connection?.isOpen ?? false) }

    func sinkIsWritable() -> Bool {
        guard let connection, sinkIsOpen else { return false }
        let writable = connection.isWritable(self)
        if !writable { wantsWritable = true }
        return writable
    }

    func sinkSendHead(_ head: HTTPResponseHead, contentLength: Int?, endStream: Bool) {
        connection?.submitHead(self, head, contentLength: contentLength, endStream: endStream)
    }

    func sinkSendResponse(_ head: HTTPResponseHead, body: [UInt8]) {
        guard !closed, !outboundEnded else { return }
        queueOutbound(body)
        // Ended before the head is submitted: nghttp2's first pull of the body already sees its end.
        outboundEnded = true
        connection?.submitHead(self, head, contentLength: body.count, endStream: false)
    }

    func sinkSendBody(_ chunk: [UInt8]) {
        guard !closed, !outboundEnded else { return }
        queueOutbound(chunk)
        connection?.bodyQueued(self)
    }

    private func queueOutbound(_ chunk: [UInt8]) {
        if pendingOutbound == 0 {
            outbound = chunk  // shares the caller's storage instead of copying it
            outboundOffset = 0
        } else {
            outbound.append(contentsOf: chunk)
        }
    }

    func sinkEnd() {
        guard !closed, !outboundEnded else { return }
        outboundEnded = true
        connection?.bodyQueued(self)
    }

    func sinkAbort() {
        connection?.resetStream(self, errorCode: HTTP2ErrorCode.internalError)
    }
}

/// RFC 9113 §7 error codes used here.
enum HTTP2ErrorCode {
    static let noError: UInt32 = 0x0
    static let protocolError: UInt32 = 0x1
    static let internalError: UInt32 = 0x2
    static let refusedStream: UInt32 = 0x7
    static let cancel: UInt32 = 0x8
    static let enhanceYourCalm: UInt32 = 0xb
}

/// RFC 9113 §6 frame types used here.
enum HTTP2FrameType {
    static let data: UInt8 = 0x0
    static let headers: UInt8 = 0x1
    static let rstStream: UInt8 = 0x3
    static let settings: UInt8 = 0x4
    static let ping: UInt8 = 0x6
    static let goaway: UInt8 = 0x7
    static let continuation: UInt8 = 0x9
}

enum HTTP2Flag {
    static let endStream: UInt8 = 0x1
    static let ack: UInt8 = 0x1
    static let endHeaders: UInt8 = 0x4
}
