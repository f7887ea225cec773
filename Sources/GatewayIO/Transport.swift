// The byte-stream abstraction that HTTP runs on. Plain TCP, TLS over TCP and the in-memory test
// transport all implement `ByteStream`, so the HTTP codecs never know which one they are on.
//
// Threading: a stream is confined to the event loop that owns it. Every method must be called on that
// loop, and every delegate callback arrives on it. Cross-loop work goes through `EventLoop.execute`.

/// A peer's network address.
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    /// Numeric host, e.g. `127.0.0.1` or `::1`.
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// What the TLS layer learned during the handshake.
public struct TLSConnectionInfo: Sendable, Equatable {
    /// `TLSv1.2` or `TLSv1.3`.
    public var protocolVersion: String
    /// The ALPN protocol chosen, e.g. `h2` or `http/1.1`; nil when the client offered none.
    public var alpn: String?
    /// The SNI host name the client sent, if any.
    public var serverName: String?
    /// The verified peer certificate's subject (RFC 2253): the client's (mTLS) on a server connection,
    /// the server's on a client connection; nil when none was presented or it was not verified.
    public var peerSubject: String?

    public init(protocolVersion: String, alpn: String?, serverName: String?, peerSubject: String?) {
        self.protocolVersion = protocolVersion
        self.alpn = alpn
        self.serverName = serverName
        self.peerSubject = peerSubject
    }
}

/// Receives a stream's events, on the stream's event loop.
public protocol ByteStreamDelegate: AnyObject {
    /// Bytes arrived (already decrypted for TLS). The buffer is only valid during the call.
    func streamDidRead(_ stream: any ByteStream, bytes: UnsafeRawBufferPointer)
    /// The peer closed its side, the stream failed, or a local `close()`/`abort()` finished. Called once;
    /// the stream is unusable afterwards and drops its reference to the delegate.
    func streamDidClose(_ stream: any ByteStream, error: (any Error)?)
    /// All previously queued writes have been handed to the kernel; producers may resume. Sent only when
    /// `pendingWriteBytes` returns to zero after having been above it.
    func streamDidDrain(_ stream: any ByteStream)
}

/// A bidirectional byte stream owned by one event loop.
public protocol ByteStream: AnyObject {
    var delegate: (any ByteStreamDelegate)? { get set }
    var eventLoop: EventLoop { get }
    var remoteAddress: SocketAddress { get }
    /// Non-nil once a TLS handshake completed; nil for plain TCP.
    var tlsInfo: TLSConnectionInfo? { get }
    /// Bytes queued but not yet written to the kernel (for backpressure decisions).
    var pendingWriteBytes: Int { get }

    /// Queues bytes for writing. Never blocks.
    func write(_ bytes: [UInt8])
    /// Queues a copy of `bytes` for writing; lets callers write from their own buffers without building an
    /// array. Never blocks; `bytes` may be reused as soon as the call returns.
    func write(contentsOf bytes: UnsafeRawBufferPointer)
    /// Stops delivering `streamDidRead` until `resumeReading()` (backpressure).
    func pauseReading()
    func resumeReading()
    /// Flushes queued writes (for TLS: sends close_notify) and then closes.
    func close()
    /// Closes immediately, dropping queued writes.
    func abort()
}

extension ByteStream {
    /// Default for streams that only implement the array form.
    public func write(contentsOf bytes: UnsafeRawBufferPointer) {
        write(Array(bytes))
    }
}
