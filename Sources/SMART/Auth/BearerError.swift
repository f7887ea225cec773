// Why a bearer token was refused, as the client sees it (RFC 6750 §3.1): 401 with
// `WWW-Authenticate: Bearer realm="pdmp-gateway", error="invalid_token"`, or no error code at all when the
// request carried no credentials. The reason is for logs and audit; the message never carries token text.

public import GatewayCore

/// A refused bearer token.
public struct BearerError: HTTPResponseError, Equatable, CustomStringConvertible {
    /// The failure class.
    public enum Reason: String, Sendable {
        /// No `Authorization` header, or another scheme: no credentials for this realm.
        case missing
        /// The header or token is not well formed.
        case malformed
        /// Signature, issuer, audience, type or claims do not check out.
        case invalid
        /// `exp` has passed.
        case expired
        /// Revoked, or the client is no longer active.
        case revoked
    }

    /// The realm in every challenge.
    public static let realm = "pdmp-gateway"

    /// The failure class.
    public let reason: Reason
    /// Detail for logs only (never shown to the client, never token text).
    public let detail: String

    /// A refusal with a log-only detail.
    public init(_ reason: Reason, _ detail: String) {
        self.reason = reason
        self.detail = detail
    }

    /// Always 401 (RFC 6750 §3.1 `invalid_token`, or no credentials).
    public var status: Int { 401 }

    /// OperationOutcome code: `login`, `expired` or `security`.
    public var issueType: IssueType {
        switch reason {
        case .missing: .login
        case .expired: .expired
        default: .security
        }
    }

    /// The message the client sees.
    public var publicMessage: String {
        switch reason {
        case .missing: "Authentication required"
        case .expired: "The access token expired"
        default: "The access token is invalid"
        }
    }

    /// RFC 6750 §3: no error code without credentials; `invalid_token` otherwise.
    public var bearerChallenge: [(String, String)]? {
        guard reason != .missing else { return [("realm", Self.realm)] }
        return [("realm", Self.realm), ("error", "invalid_token"), ("error_description", publicMessage)]
    }

    public var description: String { "bearer \(reason.rawValue): \(detail)" }

    public static func == (lhs: BearerError, rhs: BearerError) -> Bool { lhs.reason == rhs.reason }
}
