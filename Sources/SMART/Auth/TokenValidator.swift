// Bearer-token validation for every proxied request (ARCHITECTURE §1 step 1, SPEC-DIGEST §1.9, §6.1-6.2):
// `Authorization` header value in, `Principal` or `BearerError` out. The unverified `iss` only routes the
// token to one trust source (own keys, one external issuer's keys, or introspection); that source's keys,
// algorithms, audience, type and lifetime then decide. Verified results are cached by a keyed hash of the
// token until expiry, because an ES384 verification costs about 1 ms (C-INTEROP findings).

import GatewayCore
import GatewayCrypto
import JOSE
import Synchronization

/// Settings of bearer validation.
public struct TokenValidatorConfig: Sendable {
    /// The leeway for the gateway's own tokens (seconds, symmetric). 0: one clock signs and checks, and
    /// JWT-09 pins `exp == now` as expired.
    public var leeway: Double = 0
    /// Accepted `typ` for own tokens (RFC 9068 §2.1).
    public var ownTypes: Set<String> = ["at+jwt", "application/at+jwt"]
    /// Longest accepted token in bytes (decision 4 of the attack cases: 8 KiB).
    public var maxTokenLength = 8192
    /// Entries in the verified-token cache.
    public var cacheCapacity = 10_000
    /// How long an active introspection answer is reused (bounded by the token's `exp`).
    public var introspectionTTL: Double = 60
    /// How long an inactive introspection answer is reused, so one bad token cannot hammer the AS.
    public var negativeIntrospectionTTL: Double = 10
    /// The issuer recorded for introspected tokens that carry no `iss`.
    public var introspectionIssuer = "introspection"

    /// The defaults above.
    public init() {}
}

/// Validates bearer tokens.
public final class TokenValidator: Sendable {
    private let ownIssuer: TokenIssuer
    private let registry: @Sendable () -> ClientRegistry
    private let external: [String: ExternalIssuer]
    private let jwksCache: JWKSCache?
    private let introspector: (any Introspector)?
    private let revocation: (any RevocationList)?
    private let config: TokenValidatorConfig
    private let cache: VerifiedTokenCache

    /// - Parameters:
    ///   - ownIssuer: the gateway's issuer (keys, `iss`, audience).
    ///   - registry: the current client registry (read on every request, so suspension applies at once).
    ///   - externalIssuers: other trusted issuers; each `iss` at most once.
    ///   - jwksCache: key sets of external issuers.
    ///   - introspector: for opaque tokens; nil refuses them.
    ///   - revocation: consulted for every request.
    public init(
        ownIssuer: TokenIssuer, registry: @escaping @Sendable () -> ClientRegistry,
        externalIssuers: [ExternalIssuer] = [], jwksCache: JWKSCache? = nil, introspector: (any Introspector)? = nil,
        revocation: (any RevocationList)? = nil, config: TokenValidatorConfig = TokenValidatorConfig()
    ) {
        self.ownIssuer = ownIssuer
        self.registry = registry
        var byIssuer: [String: ExternalIssuer] = [:]
        for issuer in externalIssuers where issuer.issuer != ownIssuer.issuer { byIssuer[issuer.issuer] = issuer }
        self.external = byIssuer
        self.jwksCache = jwksCache
        self.introspector = introspector
        self.revocation = revocation
        self.config = config
        self.cache = VerifiedTokenCache(capacity: config.cacheCapacity)
    }

    /// Validates with what is at hand: own tokens, external tokens whose keys are cached, and cached
    /// introspection answers. Anything that would need I/O is refused; use the completion form for that.
    public func validate(authorization: String?, now: Double) -> Result<Principal, BearerError> {
        switch step(authorization: authorization, now: now, mayFetch: false) {
        case .done(let result): result
        case .fetchJWKS, .introspect: .failure(BearerError(.invalid, "keys or introspection not available"))
        }
    }

    /// Validates, fetching an external issuer's JWKS (rate-limited) or introspecting an opaque token when
    /// needed. `completion` runs exactly once, on any thread.
    public func validate(
        authorization: String?, now: Double, completion: @escaping @Sendable (Result<Principal, BearerError>) -> Void
    ) {
        switch step(authorization: authorization, now: now, mayFetch: true) {
        case .done(let result):
            completion(result)
        case .fetchJWKS(let url):
            guard let jwksCache else { return completion(.failure(BearerError(.invalid, "no JWKS cache"))) }
            jwksCache.refresh(url: url, now: now) { [self] in
                completion(validate(authorization: authorization, now: now))
            }
        case .introspect(let token, let cacheKey):
            guard let introspector else { return completion(.failure(BearerError(.invalid, "opaque token"))) }
            introspector.introspect(token: token) { [self] response in
                completion(finishIntrospection(response, cacheKey: cacheKey, now: now))
            }
        }
    }

    enum Step {
        case done(Result<Principal, BearerError>)
        case fetchJWKS(String)
        case introspect(String, [UInt8])
    }

    func step(authorization: String?, now: Double, mayFetch: Bool) -> Step {
        let token: String
        switch BearerExtraction.token(from: authorization, maxLength: config.maxTokenLength) {
        case .success(let found): token = found
        case .failure(let error): return .done(.failure(error))
        }
        let cacheKey = cache.key(for: token)
        if let cached = cache.lookup(cacheKey, now: now) { return .done(cached.flatMap { recheck($0) }) }
        guard token.utf8.count(where: { $0 == UInt8(ascii: ".") }) == 2 else {
            return introspector == nil
                ? .done(.failure(BearerError(.malformed, "not a JWT"))) : .introspect(token, cacheKey)
        }
        return verifyJWT(token, cacheKey: cacheKey, now: now, mayFetch: mayFetch)
    }

    private func verifyJWT(_ token: String, cacheKey: [UInt8], now: Double, mayFetch: Bool) -> Step {
        let issuer: String
        let jws: CompactJWS
        do {
            jws = try CompactJWS.parse(token, maxLength: config.maxTokenLength)
            guard let iss = try jws.claims().string("iss") else {
                return .done(.failure(BearerError(.invalid, "no iss")))
            }
            issuer = iss
        } catch {
            return .done(.failure(BearerError(.malformed, "\(error)")))
        }
        if issuer == ownIssuer.issuer { return .done(finish(verifyOwn(token, now: now), cacheKey: cacheKey, now: now)) }
        guard let profile = external[issuer] else { return .done(.failure(BearerError(.invalid, "unknown issuer"))) }
        guard let jwksCache else { return .done(.failure(BearerError(.invalid, "no JWKS cache"))) }
        if mayFetch, jwksCache.shouldFetch(url: profile.jwksURL, keyID: jws.keyID, now: now) {
            return .fetchJWKS(profile.jwksURL)
        }
        guard let jwks = jwksCache.keys(url: profile.jwksURL, now: now) else {
            return .done(.failure(BearerError(.invalid, "issuer keys unavailable")))
        }
        let keys = VerificationKeySet(jwks: jwks, allowed: profile.algorithms)
        return .done(finish(verifyExternal(token, profile, keys: keys, now: now), cacheKey: cacheKey, now: now))
    }

    /// Own tokens: own keys, `typ` at+jwt (JWT-15), exact issuer, our FHIR audience, lifetime ≤ ours.
    private func verifyOwn(_ token: String, now: Double) -> Result<Principal, BearerError> {
        let rules = JWTClaimRules(
            issuer: ownIssuer.issuer, audience: .containing(ownIssuer.audience), types: config.ownTypes,
            leeway: config.leeway, maxLifetime: Double(ownIssuer.lifetime), requireJTI: true)
        return Result { () throws(JOSEError) in
            try VerifiedJWT.verify(token, keys: ownIssuer.verificationKeys(now: now), rules: rules, now: now)
        }.mapError(Self.bearerError).flatMap { jwt in
            PrincipalMapping.own(jwt, registry: registry())
        }
    }

    private func verifyExternal(
        _ token: String, _ profile: ExternalIssuer, keys: VerificationKeySet, now: Double
    ) -> Result<Principal, BearerError> {
        let rules = JWTClaimRules(
            issuer: profile.issuer, audience: .containing(profile.audience), types: profile.types,
            leeway: profile.leeway, maxLifetime: profile.maxLifetime)
        return Result { () throws(JOSEError) in
            try VerifiedJWT.verify(token, keys: keys, rules: rules, now: now)
        }.mapError(Self.bearerError).flatMap { jwt in
            PrincipalMapping.external(jwt, profile: profile, registry: registry())
        }
    }

    private func finish(
        _ result: Result<Principal, BearerError>, cacheKey: [UInt8], now: Double
    ) -> Result<Principal, BearerError> {
        guard case .success(let principal) = result else { return result }
        let checked = recheck(principal)
        if case .success = checked { cache.store(cacheKey, .success(principal), until: principal.expiresAt, now: now) }
        return checked
    }

    private func finishIntrospection(
        _ response: Result<JSONObject, any Error>, cacheKey: [UInt8], now: Double
    ) -> Result<Principal, BearerError> {
        guard case .success(let object) = response else {
            return .failure(BearerError(.invalid, "introspection failed"))
        }
        let result = PrincipalMapping.introspected(object, now: now, defaultIssuer: config.introspectionIssuer)
        switch result {
        case .success(let principal):
            cache.store(cacheKey, result, until: min(principal.expiresAt, now + config.introspectionTTL), now: now)
            return recheck(principal)
        case .failure:
            cache.store(cacheKey, result, until: now + config.negativeIntrospectionTTL, now: now)
            return result
        }
    }

    /// Checks that still apply to a cached principal: revocation, a registered client still active, and a
    /// bound external client's current registered scopes.
    private func recheck(_ principal: Principal) -> Result<Principal, BearerError> {
        if let revocation, revocation.isRevoked(jti: principal.tokenID, clientID: principal.clientID) {
            return .failure(BearerError(.revoked, "revoked"))
        }
        guard principal.client != nil else { return .success(principal) }
        guard let record = registry().record(id: principal.clientID), record.client.status == .active else {
            return .failure(BearerError(.revoked, "client no longer active"))
        }
        var current = principal
        current.client = record.client
        if principal.issuer != ownIssuer.issuer {
            // An external principal bound by `clients:`: held to the registration's current scopes, also
            // while its token is cached (PrincipalMapping.bind).
            current.scopes = ScopeMediation.grant(requested: principal.scopes, registered: record.client.allowedScopes)
        }
        return .success(current)
    }

    static func bearerError(_ error: JOSEError) -> BearerError {
        switch error {
        case .expired: BearerError(.expired, "\(error)")
        case .malformed: BearerError(.malformed, "\(error)")
        default: BearerError(.invalid, "\(error)")
        }
    }

    /// Entries in the verified-token cache (for metrics and tests).
    public var cachedTokenCount: Int { cache.count }
}
