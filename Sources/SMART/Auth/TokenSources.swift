// The configured sources of trust besides the gateway's own keys: external issuers (per-issuer JWKS URL,
// algorithm allow-list, audience and claim mapping; a key of one issuer never validates another's token),
// RFC 7662 introspection for opaque tokens, and a revocation hook.

public import GatewayCore
public import JOSE

/// Which claims carry the client id, scopes and patient in an issuer's tokens.
public struct ClaimMapping: Sendable, Hashable {
    /// Claim holding the client id; `sub` is used when it is absent.
    public var clientID: String = "client_id"
    /// Claim holding the scopes: a space-separated string or an array of strings.
    public var scope: String = "scope"
    /// Claim holding the patient id.
    public var patient: String = "patient"

    /// A mapping; the defaults are the SMART claim names.
    public init(clientID: String = "client_id", scope: String = "scope", patient: String = "patient") {
        self.clientID = clientID
        self.scope = scope
        self.patient = patient
    }
}

/// An external authorization server whose JWT access tokens the gateway accepts.
public struct ExternalIssuer: Sendable {
    /// Exact `iss` value.
    public var issuer: String
    /// The issuer's JWKS URL (from configuration only).
    public var jwksURL: String
    /// The algorithms this issuer's keys are bound to.
    public var algorithms: Set<JWSAlgorithm>
    /// The audience its tokens must contain (the gateway FHIR base).
    public var audience: String
    /// Accepted `typ` values (RFC 9068: `at+jwt`).
    public var types: Set<String> = ["at+jwt", "application/at+jwt"]
    /// The issuer's clock-skew leeway, used symmetrically.
    public var leeway: Double = 30
    /// Longest accepted token lifetime.
    public var maxLifetime: Double = 3600
    /// Claim names.
    public var mapping = ClaimMapping()
    /// This issuer's client ids bound to registered clients (`external_issuers[].clients`). Unlisted
    /// clients stay in the issuer's namespace (`<issuer>#<client id>`, no registry record).
    public var clients: [String: String] = [:]

    /// An issuer profile with default type, leeway, lifetime and mapping.
    public init(issuer: String, jwksURL: String, algorithms: Set<JWSAlgorithm>, audience: String) {
        self.issuer = issuer
        self.jwksURL = jwksURL
        self.algorithms = algorithms
        self.audience = audience
    }
}

/// RFC 7662 token introspection against the configured authorization server. The implementation
/// authenticates the gateway to the endpoint and calls `completion` exactly once, on any thread, with the
/// response object.
public protocol Introspector: Sendable {
    func introspect(token: String, completion: @escaping @Sendable (Result<JSONObject, any Error>) -> Void)
}

/// A revocation list consulted on every request, cached tokens included.
public protocol RevocationList: Sendable {
    /// True when the token (`jti`) or all tokens of the client are revoked.
    func isRevoked(jti: String?, clientID: String) -> Bool
}
