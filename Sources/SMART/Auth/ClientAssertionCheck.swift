// Steps 2-5 and 7 of SPEC-DIGEST §1.6 for one client assertion (RFC 7523 §3, SMART 2.2). Every failure is
// `invalid_client`: the assertion is the client's authentication (SMART 2.2: "SHALL ... invalid_client").

import JOSE

/// A parsed client assertion bound to the registered client it claims to be.
struct ClientAssertionCheck {
    let jws: CompactJWS
    let claims: JWTClaims
    let record: ClientRecord
    let jti: String

    /// Parses the assertion and finds its client. Only `iss`/`sub` are read before the signature check,
    /// and only to choose the keys; `kid` is compared for equality with loaded keys, nothing else.
    init(_ assertion: String, formClientID: String?, registry: ClientRegistry) throws(TokenRequestError) {
        do {
            jws = try CompactJWS.parse(assertion)
            claims = try jws.claims()
        } catch {
            throw TokenRequestError(.invalidClient, "client_assertion is not a valid compact JWS")
        }
        guard JWSAlgorithm(headerValue: jws.algorithmName) != nil else {
            throw TokenRequestError(.invalidClient, "assertion alg is not accepted")
        }
        guard jws.keyID != nil else { throw TokenRequestError(.invalidClient, "assertion kid is required") }
        let issuer = try Self.string(claims, "iss")
        let subject = try Self.string(claims, "sub")
        guard issuer == subject else {
            throw TokenRequestError(.invalidClient, "iss and sub must both be the client_id")
        }
        guard let record = registry.record(id: issuer) else {
            throw TokenRequestError(.invalidClient, "unknown client")
        }
        guard record.client.status == .active else {
            throw TokenRequestError(.invalidClient, "client is suspended", clientID: issuer)
        }
        // RFC 7521 §4.2: an optional client_id parameter must identify the same client.
        if let formClientID, formClientID != issuer {
            throw TokenRequestError(.invalidClient, "client_id does not match the assertion", clientID: issuer)
        }
        self.record = record
        self.jti = (try? claims.string("jti")).flatMap { $0 } ?? ""
    }

    private static func string(_ claims: JWTClaims, _ name: String) throws(TokenRequestError) -> String {
        guard let value = try? claims.requiredString(name) else {
            throw TokenRequestError(.invalidClient, "assertion \(name) is required")
        }
        return value
    }

    /// Verifies the signature with the client's keys, then the claims: a single exact `aud` equal to the
    /// token URL (TOK-03), `exp` within `maxAssertionLifetime`, typed `nbf`/`iat`, `jti` present, and `typ`
    /// `JWT` (case-insensitive) or absent (RFC 7515 makes `typ` optional; `at+jwt` is refused, JWT-15).
    ///
    /// - Returns: the assertion's `exp`, for the replay entry's lifetime.
    func verify(
        keys: VerificationKeySet, tokenURL: String, config: AuthorizationServerConfig, now: Double
    ) throws(TokenRequestError) -> Double {
        let clientID = record.client.id
        let rules = JWTClaimRules(
            audience: .single(tokenURL), types: ["JWT"], typeOptional: true, leeway: config.leeway,
            maxLifetime: config.maxAssertionLifetime, requireJTI: true)
        do {
            _ = try keys.verify(jws, requireKeyID: true)
            return try JWTValidator.validate(jws, claims: claims, rules: rules, now: now).expiresAt
        } catch {
            throw TokenRequestError(.invalidClient, Self.describe(error), clientID: clientID)
        }
    }

    /// A fixed, safe description per failure class (never token text).
    private static func describe(_ error: JOSEError) -> String {
        switch error {
        case .keyNotFound, .ambiguousKey: "no single registered key matches the assertion kid and alg"
        case .algorithmNotAllowed: "assertion alg is not accepted for this client"
        case .invalidSignature: "assertion signature is invalid"
        case .expired: "assertion has expired"
        case .notYetValid: "assertion is not yet valid"
        case .wrongAudience: "assertion aud must be exactly the token endpoint URL"
        case .wrongType: "assertion typ must be JWT"
        case .invalidClaim: "assertion claims are invalid"
        default: "assertion is invalid"
        }
    }
}
