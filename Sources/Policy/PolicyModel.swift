// What the policy evaluator reads and returns (ARCHITECTURE §1 step 3, §5). The gateway checks SMART
// scopes before it asks the policy set: a policy can only narrow what the token's scopes allow.
public import FHIR
public import SMART

/// Everything a policy decision may depend on, for one request.
public struct PolicyInput: Sendable {
    /// The authenticated caller (token claims plus the registry entry).
    public var principal: Principal
    /// The classified request.
    public var interaction: Interaction
    /// The client's IP address as text, without a port (`192.0.2.7`, `2001:db8::7`).
    public var clientAddress: String
    /// The subject DN of the client's TLS certificate, when mutual TLS was used.
    public var mtlsSubject: String?
    /// The decision time, seconds since the epoch (from the injected clock).
    public var now: Double

    public init(
        principal: Principal, interaction: Interaction, clientAddress: String, mtlsSubject: String? = nil,
        now: Double
    ) {
        self.principal = principal
        self.interaction = interaction
        self.clientAddress = clientAddress
        self.mtlsSubject = mtlsSubject
        self.now = now
    }
}

/// A rule's effect.
public enum PolicyEffect: String, Sendable, Hashable {
    case permit, forbid
}

/// Whether a rule is enforced or only evaluated and reported (shadow mode).
public enum PolicyMode: String, Sendable, Hashable {
    case enforce, shadow
}

/// How much the audit record of a request should contain.
public enum AuditDetail: String, Sendable, Hashable {
    /// Who, what kind of interaction, outcome; no query parameters or patient demographics.
    case minimal
    /// Everything the audit builder can record for the interaction.
    case full
}

/// A rate limit the gateway must apply before forwarding (a quota per bucket and period).
public struct RateLimit: Sendable, Hashable {
    /// What one counter is kept for.
    public enum Bucket: String, Sendable, Hashable, CaseIterable {
        /// One counter per client id.
        case perClient = "per-client"
        /// One counter per client id and interaction (operation name, or kind and resource type).
        case perClientOperation = "per-client-operation"
        /// One counter per client network address.
        case perAddress = "per-address"
    }

    /// The counting period.
    public enum Period: String, Sendable, Hashable, CaseIterable {
        case second, minute, hour, day

        /// The period's length in seconds.
        public var seconds: Int {
            switch self {
            case .second: 1
            case .minute: 60
            case .hour: 3600
            case .day: 86400
            }
        }
    }

    /// The counter's name; rules that give the same name share counters. Defaults to the rule's id.
    public var name: String
    public var bucket: Bucket
    /// Requests allowed per period.
    public var limit: Int
    public var period: Period

    public init(name: String, bucket: Bucket, limit: Int, period: Period) {
        self.name = name
        self.bucket = bucket
        self.limit = limit
        self.period = period
    }

    /// The counter key for `input`, e.g. `pdmp-history-daily|per-client|client-7`. The shared-state rate
    /// limiter adds the period window itself.
    public func key(for input: PolicyInput) -> String {
        switch bucket {
        case .perClient:
            return "\(name)|\(bucket.rawValue)|\(input.principal.clientID)"
        case .perClientOperation:
            let interaction = input.interaction
            let what = interaction.operation.map { "$" + $0 }
                ?? "\(interaction.kind.rawValue):\(interaction.resourceType ?? "-")"
            return "\(name)|\(bucket.rawValue)|\(input.principal.clientID)|\(what)"
        case .perAddress:
            return "\(name)|\(bucket.rawValue)|\(input.clientAddress)"
        }
    }
}

/// Something the gateway must do when it acts on a decision.
public enum Obligation: Sendable, Hashable {
    /// Buffer the response and check every resource against the allowed patient compartment(s).
    case checkResponseCompartment
    /// Add the allowed patient to a search so the upstream only returns that patient's data.
    case narrowSearchToPatient
    /// The audit record's level of detail.
    case auditDetail(AuditDetail)
    /// Count the request against a quota; refuse with 429 when it is used up.
    case rateLimit(RateLimit)

    /// The obligation's name as written in policy files.
    public var name: String {
        switch self {
        case .checkResponseCompartment: "check_response_compartment"
        case .narrowSearchToPatient: "narrow_search_to_patient"
        case .auditDetail: "audit_detail"
        case .rateLimit: "rate_limit"
        }
    }
}

/// A shadow-mode rule that matched: reported, counted and audited, never enforced.
public struct ShadowOutcome: Sendable, Hashable {
    /// `file:rule`.
    public var rule: String
    public var effect: PolicyEffect
    public var reason: String?

    public init(rule: String, effect: PolicyEffect, reason: String?) {
        self.rule = rule
        self.effect = effect
        self.reason = reason
    }
}

/// The outcome of evaluating a policy set for one request.
public struct PolicyDecision: Sendable, Hashable {
    /// True when an enforced permit matched and no enforced forbid did.
    public var allowed: Bool
    /// Every enforced rule that matched, as `file:rule`, in policy order.
    public var matchedRules: [String]
    /// The rule that decided: the first matching forbid for a denial, the first matching permit for an
    /// allow; nil for the default denial (nothing permitted the request).
    public var decidingRule: String?
    /// For a denial, the deciding forbid's reason (or a default sentence); for an allow, the permit's reason.
    public var reason: String?
    /// For an allow, the obligations of every matching permit; for a denial, those of the matching forbids.
    public var obligations: [Obligation]
    /// Shadow rules that matched.
    public var shadow: [ShadowOutcome]
    /// What the decision would have been with the shadow rules enforced too; nil when no shadow rule matched.
    public var shadowDecision: Bool?

    public init(
        allowed: Bool, matchedRules: [String], decidingRule: String?, reason: String?, obligations: [Obligation],
        shadow: [ShadowOutcome] = [], shadowDecision: Bool? = nil
    ) {
        self.allowed = allowed
        self.matchedRules = matchedRules
        self.decidingRule = decidingRule
        self.reason = reason
        self.obligations = obligations
        self.shadow = shadow
        self.shadowDecision = shadowDecision
    }

    /// The reason given when no rule permits a request.
    public static let defaultDenialReason = "No policy rule permits this request."

    /// True when the shadow rules would have changed the outcome.
    public var shadowDiffers: Bool { shadowDecision.map { $0 != allowed } ?? false }
}
