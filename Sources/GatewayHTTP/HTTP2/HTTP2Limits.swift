// Limits for the HTTP/2 front end (issue #3 item 2; attack cases DOS-02, SMG-06). Every counter a peer
// controls is bounded (attack-cases rule 10). Body size and the header-read, body-read, idle and write
// timeouts come from the `HTTPServerLimits` shared with HTTP/1.1.

/// Protocol limits for one HTTP/2 server connection.
public struct HTTP2Limits: Sendable, Equatable {
    /// SETTINGS_MAX_CONCURRENT_STREAMS advertised and enforced (RFC 9113 §5.1.2). Default 100.
    public var maxConcurrentStreams: Int
    /// SETTINGS_MAX_HEADER_LIST_SIZE advertised and enforced on the decoded header list (name + value +
    /// 32 per field, RFC 9113 §6.5.2). Default 32 KiB; a larger request is answered 431.
    public var maxHeaderListBytes: Int
    /// CONTINUATION frames allowed after one HEADERS frame. Default 8; more → GOAWAY ENHANCE_YOUR_CALM.
    public var maxContinuationFrames: Int
    /// Stream resets per connection per second: RST_STREAM frames from the client plus streams the server
    /// reset as malformed. Default 50; one more → GOAWAY ENHANCE_YOUR_CALM (rapid reset, CVE-2023-44487).
    public var maxResetsPerSecond: Int
    /// SETTINGS frames (not ACKs) per connection per second. Default 10; more → GOAWAY ENHANCE_YOUR_CALM.
    public var maxSettingsPerSecond: Int
    /// PING frames (not ACKs) per connection per second. Default 10; more → GOAWAY ENHANCE_YOUR_CALM.
    public var maxPingsPerSecond: Int
    /// SETTINGS_INITIAL_WINDOW_SIZE: request body bytes a stream may send before a WINDOW_UPDATE.
    /// Default 256 KiB.
    public var initialStreamWindowBytes: Int
    /// The connection-level receive window. Default 1 MiB.
    public var connectionWindowBytes: Int
    /// Request body bytes buffered per connection (all streams) before the gateway stops granting flow
    /// control credit to any stream but the oldest unfinished one. Default 16 MiB.
    public var maxBufferedBodyBytes: Int

    /// Creates limits; every parameter defaults to the documented value.
    public init(
        maxConcurrentStreams: Int = 100,
        maxHeaderListBytes: Int = 32 * 1024,
        maxContinuationFrames: Int = 8,
        maxResetsPerSecond: Int = 50,
        maxSettingsPerSecond: Int = 10,
        maxPingsPerSecond: Int = 10,
        initialStreamWindowBytes: Int = 256 * 1024,
        connectionWindowBytes: Int = 1024 * 1024,
        maxBufferedBodyBytes: Int = 16 * 1024 * 1024
    ) {
        self.maxConcurrentStreams = maxConcurrentStreams
        self.maxHeaderListBytes = maxHeaderListBytes
        self.maxContinuationFrames = maxContinuationFrames
        self.maxResetsPerSecond = maxResetsPerSecond
        self.maxSettingsPerSecond = maxSettingsPerSecond
        self.maxPingsPerSecond = maxPingsPerSecond
        self.initialStreamWindowBytes = initialStreamWindowBytes
        self.connectionWindowBytes = connectionWindowBytes
        self.maxBufferedBodyBytes = maxBufferedBodyBytes
    }
}

/// Counts events in one-second windows (flood limits).
struct RateWindow {
    private var windowStartMs: UInt64 = 0
    private var count = 0

    /// Records one event at `nowMs`; false once more than `limit` happened in the current second.
    mutating func record(nowMs: UInt64, limit: Int) -> Bool {
        if nowMs &- windowStartMs >= 1000 {
            windowStartMs = nowMs
            count = 0
        }
        count += 1
        return count <= limit
    }
}
