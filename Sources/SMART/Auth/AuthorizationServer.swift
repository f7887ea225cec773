// The SMART Backend Services token endpoint (SMART 2.2 backend-services + client-confidential-asymmetric,
// RFC 7523 §3), as pure logic: form parameters in, RFC 6749 JSON out. The checks follow SPEC-DIGEST §1.6
// in order; the signature is verified before any claim other than `iss`/`sub` (needed to find the keys) is
// trusted, and the replay store is consulted only for assertions that passed every other check.

import GatewayCore
public import JOSE
import Synchronization

/// Settings of the token endpoint.
public struct AuthorizationServerConfig: Sendable {
    /// Algorithms accepted on client assertions. SMART 2.2: the AS SHALL support RS384 or ES384.
    public var assertionAlgorithms: Set<JWSAlgorithm> = [.rs384, .es384, .rs256, .es256, .rs512, .es512]
    /// The one clock-skew leeway (seconds) for `exp`, `nbf` and `iat` of assertions.
    public var leeway: Double = 30
    /// Longest accepted assertion lifetime: SMART 2.2 says `exp` no more than 5 minutes ahead.
    public var maxAssertionLifetime: Double = 300

    /// The defaults above.
    public init() {}
}

/// The token endpoint logic.
public final class AuthorizationServer: Sendable {
    static let clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

    private let registry: Mutex<ClientRegistry>
    private let issuer: TokenIssuer
    private let replayCache: any ReplayCache
    private let jwksCache: JWKSCache?
    private let config: AuthorizationServerConfig

    /// - Parameters:
    ///   - registry: the registered clients (swap later with `replaceRegistry`).
    ///   - issuer: mints the access tokens.
    ///   - replayCache: the (iss, jti) store; `.unavailable` makes the endpoint answer 503.
    ///   - jwksCache: fetches clients' `jwks_url` key sets; nil refuses URL-registered clients.
    public init(
        registry: ClientRegistry, issuer: TokenIssuer, replayCache: any ReplayCache, jwksCache: JWKSCache?,
        config: AuthorizationServerConfig = AuthorizationServerConfig()
    ) {
        self.registry = Mutex(registry)
        self.issuer = issuer
        self.replayCache = replayCache
        self.jwksCache = jwksCache
        self.config = config
    }

    /// Installs a new registry snapshot (reload, admin edits); requests already running keep the old one.
    public func replaceRegistry(_ registry: ClientRegistry) { self.registry.withLock { $0 = registry } }

    /// The current registry snapshot.
    public var currentRegistry: ClientRegistry { registry.withLock { $0 } }

    /// Handles a token request with the keys at hand. A client registered by `jwks_url` whose keys are not
    /// cached (or whose `kid` is unknown) is refused here; use the completion form to fetch first.
    ///
    /// - Parameters:
    ///   - form: the decoded `application/x-www-form-urlencoded` body, every value of every name.
    ///   - tokenURL: the exact token endpoint URL assertions must name as `aud`.
    ///   - now: seconds since the epoch.
    public func handleTokenRequest(form: [String: [String]], tokenURL: String, now: Double) -> TokenEndpointResult {
        switch evaluate(form: form, tokenURL: tokenURL, now: now, mayFetch: false) {
        case .done(let result): result
        case .fetch: .failure(TokenRequestError(.invalidClient, "client keys unavailable"))
        }
    }

    /// Handles a token request, fetching a client's `jwks_url` first when its keys are missing, stale or
    /// lack the assertion's `kid` (rate-limited by the cache). `completion` runs exactly once.
    public func handleTokenRequest(
        form: [String: [String]], tokenURL: String, now: Double,
        completion: @escaping @Sendable (TokenEndpointResult) -> Void
    ) {
        switch evaluate(form: form, tokenURL: tokenURL, now: now, mayFetch: true) {
        case .done(let result):
            completion(result)
        case .fetch(let url):
            guard let jwksCache else { return completion(.failure(TokenRequestError(.invalidClient, "no keys"))) }
            jwksCache.refresh(url: url, now: now) { [self] in
                completion(handleTokenRequest(form: form, tokenURL: tokenURL, now: now))
            }
        }
    }

    enum Step {
        case done(TokenEndpointResult)
        case fetch(String)
    }

    func evaluate(form: [String: [String]], tokenURL: String, now: Double, mayFetch: Bool) -> Step {
        do throws(TokenRequestError) {
            let request = try TokenRequest(form: form)
            let assertion = try ClientAssertionCheck(
                request.assertion, formClientID: request.clientID, registry: registry.withLock { $0 })
            let keys: VerificationKeySet
            switch try resolveKeys(assertion, now: now, mayFetch: mayFetch) {
            case .keys(let found): keys = found
            case .fetch(let url): return .fetch(url)
            }
            let exp = try assertion.verify(keys: keys, tokenURL: tokenURL, config: config, now: now)
            try claimJTI(assertion, exp: exp)
            return .done(try issue(request, assertion, now: now))
        } catch {
            return .done(.failure(error))
        }
    }

    enum KeyResolution {
        case keys(VerificationKeySet)
        case fetch(String)
    }

    /// SMART 2.2 §"Signature verification": `jku` only if it equals the registered JWKS URL; otherwise the
    /// registered JWKS (by value or URL). Keys are bound to the assertion algorithm allow-list.
    private func resolveKeys(
        _ assertion: ClientAssertionCheck, now: Double, mayFetch: Bool
    ) throws(TokenRequestError) -> KeyResolution {
        let record = assertion.record
        let clientID = record.client.id
        if let jku = assertion.jws.jwkSetURL, jku != record.keys.url {
            throw TokenRequestError(.invalidClient, "jku does not match the registered JWKS URL", clientID: clientID)
        }
        switch record.keys {
        case .inline(let jwks):
            return .keys(VerificationKeySet(jwks: jwks, allowed: config.assertionAlgorithms))
        case .url(let url):
            guard let jwksCache else { throw TokenRequestError(.invalidClient, "no JWKS fetcher", clientID: clientID) }
            if mayFetch, jwksCache.shouldFetch(url: url, keyID: assertion.jws.keyID, now: now) { return .fetch(url) }
            guard let jwks = jwksCache.keys(url: url, now: now) else {
                throw TokenRequestError(.invalidClient, "client keys unavailable", clientID: clientID)
            }
            return .keys(VerificationKeySet(jwks: jwks, allowed: config.assertionAlgorithms))
        }
    }

    /// SMART 2.2: reject a `jti` already used by the same `iss` until the assertion expires (+ leeway).
    private func claimJTI(_ assertion: ClientAssertionCheck, exp: Double) throws(TokenRequestError) {
        let clientID = assertion.record.client.id
        let jti = assertion.jti
        switch replayCache.claim(issuer: clientID, jti: jti, expiresAt: exp + config.leeway) {
        case .fresh: return
        case .replayed: throw TokenRequestError(.invalidClient, "assertion jti already used", clientID: clientID)
        case .unavailable:
            throw TokenRequestError(.temporarilyUnavailable, "replay store unavailable", clientID: clientID)
        }
    }

    private func issue(
        _ request: TokenRequest, _ assertion: ClientAssertionCheck, now: Double
    ) throws(TokenRequestError) -> TokenEndpointResult {
        let client = assertion.record.client
        let granted = ScopeMediation.grant(requested: request.scopes, registered: client.allowedScopes)
        guard !granted.isEmpty else {
            throw TokenRequestError(
                .invalidScope, "no requested scope is registered for this client", clientID: client.id)
        }
        do {
            let token = try issuer.issue(clientID: client.id, scopes: granted, now: now)
            return .success(token, clientID: client.id, scopes: granted)
        } catch {
            throw TokenRequestError(.temporarilyUnavailable, "cannot sign token", clientID: client.id)
        }
    }
}
