// What the pipeline knows about one decision, in the Audit module's own terms (ARCHITECTURE §1 step 6).
// The builder turns it into a FHIR R4 AuditEvent; nothing here depends on SMART or Policy types.

public import FHIR

/// The facts about one decided request (a FHIR interaction or a token request) that an AuditEvent records.
public struct AuditInput: Sendable, Hashable {
    /// How the request ended.
    public enum Outcome: Sendable, Hashable {
        /// Allowed and answered successfully (2xx/3xx).
        case success
        /// Refused by the gateway (authentication, scope, policy, compartment): a 4xx with its status.
        case denied(status: Int)
        /// Allowed but failed (bad request, upstream error, timeout): the status returned.
        case failure(status: Int)
    }

    /// What was asked for.
    public enum Subject: Sendable, Hashable {
        /// A FHIR RESTful interaction through the proxy.
        case fhir(Interaction)
        /// A SMART Backend Services token request at the gateway's authorization server.
        case tokenRequest(AuditTokenRequest)
        /// An RFC 7662 token introspection request at the gateway's authorization server.
        case introspection(AuditIntrospection)
    }

    /// When the decision was made, in seconds since the Unix epoch (becomes `recorded`).
    public var time: Double
    /// How the request ended.
    public var outcome: Outcome
    /// The error code and safe description for a non-success outcome, e.g. `insufficient_scope: ...`. No PHI.
    public var outcomeDescription: String?
    /// What was asked for.
    public var subject: Subject
    /// The request line as received (method, path, raw query) and the Host header.
    public var request: AuditHTTPRequest
    /// The authenticated (or, for a refused token request, the claimed) client; nil when unknown.
    public var client: AuditClient?
    /// The real TCP peer address (never a client-supplied forwarding header).
    public var peerAddress: String
    /// The request's `X-Request-ID` (BALP `transaction` entity).
    public var requestID: String?
    /// The policy decision and the rule that produced it, when a policy decided.
    public var decision: AuditDecision?
    /// The `jti` of the access token used (FHIR requests) — recorded as `urn:ietf:params:oauth:jti:<jti>`.
    public var tokenJTI: String?
    /// Purpose of use (e.g. v3-ActReason `TREAT`), from the token or the client registration.
    public var purposeOfUse: [AuditCoding]
    /// Patients found in the response (searches and `$pdmp-history`); the request's own patients come from
    /// the interaction.
    public var responsePatients: [AuditPatient]
    /// The resource the interaction produced or touched, from the response `Location`/`Content-Location`
    /// (e.g. `MedicationDispense/7/_history/1`); nil to use the interaction's type and id.
    public var resultReference: String?

    /// Creates the facts about one decision.
    public init(
        time: Double, outcome: Outcome, outcomeDescription: String? = nil, subject: Subject,
        request: AuditHTTPRequest, client: AuditClient?, peerAddress: String, requestID: String? = nil,
        decision: AuditDecision? = nil, tokenJTI: String? = nil, purposeOfUse: [AuditCoding] = [],
        responsePatients: [AuditPatient] = [], resultReference: String? = nil
    ) {
        self.time = time
        self.outcome = outcome
        self.outcomeDescription = outcomeDescription
        self.subject = subject
        self.request = request
        self.client = client
        self.peerAddress = peerAddress
        self.requestID = requestID
        self.decision = decision
        self.tokenJTI = tokenJTI
        self.purposeOfUse = purposeOfUse
        self.responsePatients = responsePatients
        self.resultReference = resultReference
    }
}

/// The request line and Host header of the audited request (the BALP `query` entity is built from them).
public struct AuditHTTPRequest: Sendable, Hashable {
    /// The method, uppercase.
    public var method: String
    /// The path as received, without the query string.
    public var path: String
    /// The raw query string without `?`, nil when absent.
    public var query: String?
    /// The Host (or HTTP/2 `:authority`) value.
    public var host: String?

    /// Creates a request line.
    public init(method: String, path: String, query: String? = nil, host: String? = nil) {
        self.method = method
        self.path = path
        self.query = query
        self.host = host
    }
}

/// The requester: a registered SMART Backend Services client.
public struct AuditClient: Sendable, Hashable {
    /// The `client_id` (also `iss`/`sub` of its assertions).
    public var id: String
    /// The registered display name.
    public var name: String?
    /// The issuer of the access token the client presented (the gateway's own or an external AS).
    public var issuer: String?

    /// Creates a client.
    public init(id: String, name: String? = nil, issuer: String? = nil) {
        self.id = id
        self.name = name
        self.issuer = issuer
    }
}

/// A policy decision: which rule decided and why.
public struct AuditDecision: Sendable, Hashable {
    /// `permit` or `deny`.
    public var permitted: Bool
    /// The name of the deciding rule (nil for the implicit default deny).
    public var rule: String?
    /// The rule's stated reason.
    public var reason: String?
    /// What the shadow-mode rules would have decided (nil when none matched); not enforced (issue #6 item 4).
    public var shadowPermitted: Bool?
    /// The shadow-mode rules that matched (`file:rule`).
    public var shadowRules: [String]

    /// Creates a decision.
    public init(
        permitted: Bool, rule: String?, reason: String? = nil, shadowPermitted: Bool? = nil, shadowRules: [String] = []
    ) {
        self.permitted = permitted
        self.rule = rule
        self.reason = reason
        self.shadowPermitted = shadowPermitted
        self.shadowRules = shadowRules
    }
}

/// A coded value (system and code), e.g. a purpose of use.
public struct AuditCoding: Sendable, Hashable {
    /// The code system URI.
    public var system: String
    /// The code.
    public var code: String

    /// Creates a coding.
    public init(system: String, code: String) {
        self.system = system
        self.code = code
    }
}

/// A patient involved in an audited request.
public enum AuditPatient: Sendable, Hashable {
    /// A logical id on the upstream server (written as `Patient/<id>`).
    case id(String)
    /// A business identifier (e.g. a PDMP-side id) with no local logical id; written as a keyed hash.
    case identifier(system: String, value: String)
}

/// A SMART Backend Services token request (SMART 2.2 backend-services §1.4) and, on success, what was
/// issued. The client assertion itself is never recorded.
public struct AuditTokenRequest: Sendable, Hashable {
    /// `grant_type` as sent.
    public var grantType: String?
    /// The scope string the client asked for.
    public var requestedScope: String?
    /// `client_assertion_type` as sent.
    public var clientAssertionType: String?
    /// The `jti` of the client assertion (recorded to tie replays together).
    public var assertionJTI: String?
    /// On success: the scopes granted, the issued token's `jti` and its lifetime in seconds.
    public var grantedScope: String?
    /// The `jti` of the access token issued (success only).
    public var issuedTokenJTI: String?
    /// The issued token's lifetime in seconds (success only).
    public var expiresIn: Int?

    /// Creates a token request description.
    public init(
        grantType: String? = nil, requestedScope: String? = nil, clientAssertionType: String? = nil,
        assertionJTI: String? = nil, grantedScope: String? = nil, issuedTokenJTI: String? = nil,
        expiresIn: Int? = nil
    ) {
        self.grantType = grantType
        self.requestedScope = requestedScope
        self.clientAssertionType = clientAssertionType
        self.assertionJTI = assertionJTI
        self.grantedScope = grantedScope
        self.issuedTokenJTI = issuedTokenJTI
        self.expiresIn = expiresIn
    }
}
