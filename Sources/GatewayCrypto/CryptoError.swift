// The one error type of GatewayCrypto. A failing OpenSSL call drains the thread's error queue into the
// error (STYLE habit 12), so a stale entry can never be blamed on the next operation on this thread.

/// A failure inside GatewayCrypto: bad key material, an unsupported parameter, or an OpenSSL failure.
public struct CryptoError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What was being done, e.g. `"import RSA public key"`.
    public let operation: String
    /// A short reason written by GatewayCrypto (never secret material).
    public let reason: String
    /// The drained OpenSSL error queue, oldest first (may be empty).
    public let openSSLErrors: [String]

    init(_ operation: String, _ reason: String, openSSLErrors: [String] = []) {
        self.operation = operation
        self.reason = reason
        self.openSSLErrors = openSSLErrors
    }

    public var description: String {
        let queue = openSSLErrors.isEmpty ? "" : " [" + openSSLErrors.joined(separator: "; ") + "]"
        return "\(operation): \(reason)\(queue)"
    }
}
