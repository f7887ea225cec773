// The one place where an error knows its HTTP face. Every module's error type that can reach a client
// conforms to `HTTPResponseError`; the edge turns it into a FHIR OperationOutcome (or, for the OAuth
// endpoints, RFC 6749 §5.2 JSON) with the right status and `WWW-Authenticate` header.

/// FHIR OperationOutcome.issue.code values used by the gateway (R4 IssueType value set).
public enum IssueType: String, Sendable {
    case invalid, structure, required, value, invariant, security, login, unknown, expired, forbidden
    case suppressed, processing, notSupported = "not-supported", duplicate, multipleMatches = "multiple-matches"
    case notFound = "not-found", tooLong = "too-long", codeInvalid = "code-invalid", extension_ = "extension"
    case tooCostly = "too-costly", businessRule = "business-rule", conflict, transient, lockError = "lock-error"
    case noStore = "no-store", exception, timeout, incomplete, throttled, informational
}

/// An error that a client may see.
public protocol HTTPResponseError: Error {
    /// The HTTP status to answer with.
    var status: Int { get }
    /// OperationOutcome.issue.code.
    var issueType: IssueType { get }
    /// Human-readable, safe to show to the requester (no internal detail, no PHI).
    var publicMessage: String { get }
    /// RFC 6750 §3 challenge parameters for 401/403, e.g. `["error": "invalid_token"]`; nil for none.
    var bearerChallenge: [(String, String)]? { get }
    /// Extra response headers (e.g. `Retry-After`).
    var extraHeaders: [(String, String)] { get }
}

extension HTTPResponseError {
    public var bearerChallenge: [(String, String)]? { nil }
    public var extraHeaders: [(String, String)] { [] }
}

/// A plain error with a status, for cases that need no type of their own.
public struct GatewayError: HTTPResponseError, CustomStringConvertible {
    public let status: Int
    public let issueType: IssueType
    public let publicMessage: String
    public let bearerChallenge: [(String, String)]?
    public let extraHeaders: [(String, String)]

    public init(
        status: Int, issueType: IssueType, _ message: String, bearerChallenge: [(String, String)]? = nil,
        extraHeaders: [(String, String)] = []
    ) {
        self.status = status
        self.issueType = issueType
        self.publicMessage = message
        self.bearerChallenge = bearerChallenge
        self.extraHeaders = extraHeaders
    }

    public var description: String { "\(status) \(issueType.rawValue): \(publicMessage)" }

    public static func badRequest(_ message: String) -> GatewayError {
        GatewayError(status: 400, issueType: .invalid, message)
    }
}
