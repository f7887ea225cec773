// The client-visible face of a scope denial: 403 with `WWW-Authenticate: Bearer error="insufficient_scope"`
// (RFC 6750 §3.1), decided before the upstream is contacted (SCP-01).
public import GatewayCore

/// A request the token's scopes do not permit.
public struct ScopeError: HTTPResponseError, Sendable, Hashable, CustomStringConvertible {
    /// The scope that would have permitted the request, e.g. `patient/MedicationRequest.s`; nil when no
    /// single scope could (e.g. patient scopes without a patient context).
    public let missingScope: String?
    public let publicMessage: String

    public init(missingScope: String?, message: String) {
        self.missingScope = missingScope
        self.publicMessage = message
    }

    public var status: Int { 403 }
    public var issueType: IssueType { .forbidden }

    /// RFC 6750 §3: `error="insufficient_scope"` and, when known, the `scope` that is needed.
    public var bearerChallenge: [(String, String)]? {
        var challenge = [("error", "insufficient_scope")]
        if let missingScope { challenge.append(("scope", missingScope)) }
        return challenge
    }

    public var description: String { "403 insufficient_scope: \(publicMessage)" }
}
