// The seam between `HTTPResponder` and a transport that frames responses itself. HTTP/1.1 connections
// keep their own serialisation inside the responder; an HTTP/2 stream implements this protocol, so the
// handler answers both protocols through the same `HTTPResponder` API.

/// Receives a response from an ``HTTPResponder`` that is bound to it. Loop-confined.
///
/// The responder has already decided framing: `contentLength` is the value to announce (nil when
/// unknown), and it never sends body bytes beyond a declared length.
protocol HTTPResponseSink: AnyObject {
    /// True while the response can still reach the client.
    var sinkIsOpen: Bool { get }
    /// False while too many response bytes are queued; the sink later calls the responder's
    /// `connectionDidDrain()` once they drained.
    func sinkIsWritable() -> Bool
    /// Sends the response head; `endStream` ends the response with it (no body follows).
    func sinkSendHead(_ head: HTTPResponseHead, contentLength: Int?, endStream: Bool)
    /// Sends a whole response whose body is not empty: head, body and end together, so that they leave
    /// in one write (HEADERS and DATA with END_STREAM) instead of one per call.
    func sinkSendResponse(_ head: HTTPResponseHead, body: [UInt8])
    /// Queues body bytes.
    func sinkSendBody(_ chunk: [UInt8])
    /// Ends the response (idempotent when the head already ended it).
    func sinkEnd()
    /// Abandons the response: the client sees the stream reset.
    func sinkAbort()
}
