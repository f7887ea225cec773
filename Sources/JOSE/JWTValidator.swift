// JWT claim rules (RFC 7519 §4.1, RFC 8725 §3.8-3.11): `exp` required and typed, `nbf`/`iat` typed, one
// symmetric leeway for every time comparison, an upper bound on lifetime, exact audience and exact `typ`.
// Audience comparison is byte-exact and case-sensitive: no URL normalisation (attack cases JWT-11, TOK-03).

/// How `aud` must name the expected audience.
public enum AudienceRule: Sendable, Hashable {
    /// `aud` is exactly this string, or an array whose only element is it (client assertions: SMART 2.2
    /// names the token endpoint as *the* audience; TOK-03 refuses any second audience).
    case single(String)
    /// `aud` is this string or an array of strings containing it (RFC 7519 §4.1.3; access tokens, JWT-11a).
    case containing(String)
}

/// The claim profile one kind of token must satisfy.
public struct JWTClaimRules: Sendable {
    /// Required `iss` value, or nil to skip (the caller checks `iss` against a registry).
    public var issuer: String?
    /// The audience rule.
    public var audience: AudienceRule
    /// Accepted `typ` header values, compared case-insensitively (RFC 7515 §4.1.9). Empty accepts any.
    public var types: Set<String>
    /// Whether a missing `typ` is accepted.
    public var typeOptional: Bool
    /// The one clock-skew allowance, in seconds, used symmetrically for `exp`, `nbf` and `iat`.
    public var leeway: Double
    /// The longest accepted lifetime: `exp` may lie at most this far after now (and after `iat`).
    public var maxLifetime: Double
    /// Whether `jti` must be present (as a non-empty string).
    public var requireJTI: Bool

    /// A claim profile; `types` are stored lowercased.
    public init(
        issuer: String? = nil, audience: AudienceRule, types: Set<String>, typeOptional: Bool = false,
        leeway: Double = 0, maxLifetime: Double, requireJTI: Bool = false
    ) {
        self.issuer = issuer
        self.audience = audience
        self.types = Set(types.map { $0.lowercased() })
        self.typeOptional = typeOptional
        self.leeway = leeway
        self.maxLifetime = maxLifetime
        self.requireJTI = requireJTI
    }
}

/// The time claims after validation.
public struct ValidatedTimes: Sendable, Equatable {
    /// `exp`.
    public let expiresAt: Double
    /// `iat`, if present.
    public let issuedAt: Double?
    /// `nbf`, if present.
    public let notBefore: Double?
}

/// Applies `JWTClaimRules` to a parsed token.
public enum JWTValidator {
    /// Checks header `typ` and the claims at time `now`.
    ///
    /// - Throws: `JOSEError` (`.wrongType`, `.invalidClaim`, `.expired`, `.notYetValid`, `.wrongAudience`).
    public static func validate(
        _ jws: CompactJWS, claims: JWTClaims, rules: JWTClaimRules, now: Double
    ) throws(JOSEError) -> ValidatedTimes {
        try checkType(jws, rules)
        if let issuer = rules.issuer, try claims.requiredString("iss") != issuer {
            throw .invalidClaim("iss")
        }
        try checkAudience(claims, rules.audience)
        if rules.requireJTI { _ = try claims.requiredString("jti") }
        return try checkTimes(claims, rules, now: now)
    }

    static func checkType(_ jws: CompactJWS, _ rules: JWTClaimRules) throws(JOSEError) {
        guard let type = jws.type else {
            if rules.typeOptional { return }
            throw .wrongType
        }
        guard rules.types.isEmpty || rules.types.contains(type.lowercased()) else { throw .wrongType }
    }

    static func checkAudience(_ claims: JWTClaims, _ rule: AudienceRule) throws(JOSEError) {
        guard let audiences = try claims.audiences(), !audiences.isEmpty else { throw .wrongAudience }
        switch rule {
        case .single(let expected):
            guard audiences == [expected] else { throw .wrongAudience }
        case .containing(let expected):
            guard audiences.contains(expected) else { throw .wrongAudience }
        }
    }

    /// `now < exp + leeway`; `exp ≤ now + maxLifetime + leeway`; `nbf ≤ now + leeway`; `iat ≤ now + leeway`
    /// and `exp − iat ≤ maxLifetime` (RFC 7519 §4.1.4-4.1.6; bounds per JWT-09).
    static func checkTimes(_ claims: JWTClaims, _ rules: JWTClaimRules, now: Double) throws(JOSEError) -> ValidatedTimes
    {
        guard let exp = try claims.numericDate("exp") else { throw .invalidClaim("exp is required") }
        let nbf = try claims.numericDate("nbf")
        let iat = try claims.numericDate("iat")
        guard now < exp + rules.leeway else { throw .expired }
        guard exp <= now + rules.maxLifetime + rules.leeway else { throw .invalidClaim("exp too far ahead") }
        if let nbf, nbf > now + rules.leeway { throw .notYetValid }
        if let iat {
            guard iat <= now + rules.leeway else { throw .notYetValid }
            guard exp - iat <= rules.maxLifetime else { throw .invalidClaim("lifetime too long") }
        }
        return ValidatedTimes(expiresAt: exp, issuedAt: iat, notBefore: nbf)
    }
}
