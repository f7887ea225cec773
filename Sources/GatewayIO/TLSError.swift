// TLS failures, each carrying the whole OpenSSL error queue of the failing call. The queue is drained at
// the failure site so that a stale entry can never be blamed on the next connection served by the same
// thread (STYLE.md habit 12).

import COpenSSL

/// A TLS failure: what failed, and the OpenSSL error lines (`error:0A000086:SSL routines::...`).
public struct TLSError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What was being attempted, e.g. `handshake` or `load certificate chain /etc/gw/cert.pem`.
    public let operation: String
    /// `ERR_error_string_n` lines, oldest first; empty when OpenSSL queued nothing.
    public let openSSLErrors: [String]

    /// Creates an error; the gateway itself builds them from the drained OpenSSL queue.
    public init(operation: String, openSSLErrors: [String]) {
        self.operation = operation
        self.openSSLErrors = openSSLErrors
    }

    /// The operation and every OpenSSL reason, for logs.
    public var description: String {
        let reasons = openSSLErrors.joined(separator: "; ")
        return openSSLErrors.isEmpty ? "TLS \(operation) failed" : "TLS \(operation) failed: \(reasons)"
    }

    /// Builds an error for `operation` from the current thread's OpenSSL error queue, emptying it.
    static func drained(_ operation: String) -> TLSError {
        TLSError(operation: operation, openSSLErrors: drainErrorQueue())
    }

    /// The handshake did not complete in time.
    static func handshakeTimedOut() -> TLSError {
        TLSError(operation: "handshake (timed out)", openSSLErrors: [])
    }

    /// Pops every entry of this thread's OpenSSL error queue.
    static func drainErrorQueue() -> [String] {
        var lines: [String] = []
        var buffer = [CChar](repeating: 0, count: 256)
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            ERR_error_string_n(code, &buffer, buffer.count)
            let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
            lines.append(String(decoding: bytes, as: UTF8.self))
        }
        return lines
    }
}
