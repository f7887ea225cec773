// What the HTTP/1.1 server connection hands to the gateway: one parsed request at a time, its context,
// and a responder to answer it with.

public import GatewayIO

/// Handles requests from an HTTP server connection. Called on the connection's event loop.
public protocol HTTPServerHandler: AnyObject {
    /// Handles one complete request (the body is fully buffered).
    ///
    /// The handler must eventually call ``HTTPResponder/respond(_:)`` or ``HTTPResponder/end()`` on
    /// `responder`, on the connection's event loop. Later requests on the same connection wait until then.
    func handle(_ request: HTTPRequest, context: HTTPRequestContext, responder: HTTPResponder)
}

/// Facts about the connection a request arrived on.
public struct HTTPRequestContext: Sendable {
    /// The peer's address.
    public let remoteAddress: SocketAddress
    /// What the TLS handshake negotiated; nil on plain TCP.
    public let tls: TLSConnectionInfo?
    /// A process-unique id of the connection (for logs and audit).
    public let connectionID: UInt64
    /// 1 for the first request on the connection, 2 for the next, and so on.
    public let requestNumber: Int
    /// The loop the connection (and anything serving it) runs on.
    public let eventLoop: EventLoop

    /// Creates a context.
    public init(
        remoteAddress: SocketAddress, tls: TLSConnectionInfo?, connectionID: UInt64, requestNumber: Int,
        eventLoop: EventLoop
    ) {
        self.remoteAddress = remoteAddress
        self.tls = tls
        self.connectionID = connectionID
        self.requestNumber = requestNumber
        self.eventLoop = eventLoop
    }
}

/// Renders the response for a framing error (status plus a safe message), e.g. as a FHIR OperationOutcome.
public typealias HTTPErrorRenderer = (_ status: Int, _ message: String) -> HTTPResponse

/// The default error rendering: a short `text/plain` body.
public func plainTextErrorResponse(status: Int, message: String) -> HTTPResponse {
    HTTPResponse(
        status: status, headers: HTTPHeaders([("Content-Type", "text/plain; charset=utf-8")]),
        body: Array((message + "\n").utf8))
}
