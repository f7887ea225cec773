// Limits for the HTTP/1.1 front end (issue #2 item 4; attack cases HDR-05, DOS-01). Every counter a peer
// controls is bounded (attack-cases rule 10).

/// Size and time limits for one HTTP/1.1 server connection.
public struct HTTPServerLimits: Sendable, Equatable {
    /// Longest request line in bytes, CRLF excluded. Default 8 KiB; longer lines are answered 414.
    public var maxRequestLineBytes: Int
    /// Largest header block in bytes (all field lines after the request line). Default 32 KiB; larger → 431.
    public var maxHeaderBytes: Int
    /// Most header fields in one request. Default 100; more → 431.
    public var maxHeaderCount: Int
    /// Largest request body in bytes (bodies are buffered in full). Default 8 MiB; larger → 413.
    public var maxBodyBytes: Int
    /// Total time allowed for one request head to arrive, in milliseconds; not reset per byte, so a
    /// trickling client cannot hold a connection (DOS-01). Default 10 s; expiry → 408 and close.
    public var headerReadTimeoutMs: UInt64
    /// Total time allowed for a request body to arrive once the head is read, in milliseconds.
    /// Default 60 s; expiry → 408 and close.
    public var bodyReadTimeoutMs: UInt64
    /// Time a keep-alive connection may sit without a request, in milliseconds. Default 60 s; then closed.
    public var idleTimeoutMs: UInt64
    /// Queued response bytes above which `HTTPResponder.isWritable` turns false. Default 256 KiB.
    public var writeHighWatermarkBytes: Int
    /// How long a response may stay blocked on a client that does not read, in milliseconds, once the
    /// queue passed the high watermark. Default 60 s; then the connection is dropped.
    public var writeTimeoutMs: UInt64

    /// Creates limits; every parameter defaults to the documented value.
    public init(
        maxRequestLineBytes: Int = 8 * 1024,
        maxHeaderBytes: Int = 32 * 1024,
        maxHeaderCount: Int = 100,
        maxBodyBytes: Int = 8 * 1024 * 1024,
        headerReadTimeoutMs: UInt64 = 10_000,
        bodyReadTimeoutMs: UInt64 = 60_000,
        idleTimeoutMs: UInt64 = 60_000,
        writeHighWatermarkBytes: Int = 256 * 1024,
        writeTimeoutMs: UInt64 = 60_000
    ) {
        self.maxRequestLineBytes = maxRequestLineBytes
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxBodyBytes = maxBodyBytes
        self.headerReadTimeoutMs = headerReadTimeoutMs
        self.bodyReadTimeoutMs = bodyReadTimeoutMs
        self.idleTimeoutMs = idleTimeoutMs
        self.writeHighWatermarkBytes = writeHighWatermarkBytes
        self.writeTimeoutMs = writeTimeoutMs
    }
}
