// Errors of the audit sink. Fail closed (ARCHITECTURE §3): a request whose record cannot be made durable is
// answered 503, never silently left unaudited.

public import GatewayCore

/// Why an audit record could not be made durable.
///
/// Equality compares the ``code`` only, so callers can write `error == .unavailable`; ``detail`` carries the
/// internal cause (errno text) for logs and is never shown to clients.
public struct AuditError: Error, Sendable, Hashable, CustomStringConvertible, HTTPResponseError {
    /// The kind of failure.
    public enum Code: String, Sendable, Hashable {
        /// The audit directory cannot be written (read-only, full, missing, I/O error).
        case unavailable
        /// The sink has been shut down.
        case stopped
    }

    /// What went wrong.
    public let code: Code
    /// The internal cause, for logs.
    public let detail: String

    /// An error with an internal `detail` for logs.
    public init(_ code: Code, detail: String = "") {
        self.code = code
        self.detail = detail
    }

    /// The audit directory cannot be written.
    public static var unavailable: AuditError { AuditError(.unavailable) }
    /// The sink has been shut down.
    public static var stopped: AuditError { AuditError(.stopped) }

    /// Compares the codes only.
    public static func == (lhs: AuditError, rhs: AuditError) -> Bool { lhs.code == rhs.code }
    /// Hashes the code only.
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }

    /// The code and detail, for logs.
    public var description: String { detail.isEmpty ? "audit \(code.rawValue)" : "audit \(code.rawValue): \(detail)" }

    // Both codes mean "cannot record now": 503 with a retry hint (RFC 9110 §15.6.4, §10.2.3).
    /// 503 Service Unavailable.
    public var status: Int { 503 }
    /// `transient`: the client may retry.
    public var issueType: IssueType { .transient }
    /// Safe to show: says nothing about paths or errno.
    public var publicMessage: String { "The audit log is unavailable; the request was not processed." }
    /// Asks the client to retry after 5 seconds.
    public var extraHeaders: [(String, String)] { [("Retry-After", "5")] }
}
