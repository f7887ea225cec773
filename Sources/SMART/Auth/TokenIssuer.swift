// The gateway's own access tokens (SPEC-DIGEST §1.7, RFC 9068): JWTs with `typ: at+jwt`, signed by the
// active gateway key. Rotation keeps each previous public key published and trusted until every token it
// signed has expired, so a rotation never invalidates a live token.

public import GatewayCore
import GatewayCrypto
public import JOSE
import Synchronization

/// An access token the gateway minted.
public struct IssuedToken: Sendable, Equatable {
    /// The compact JWS.
    public let accessToken: String
    /// Its `jti`.
    public let tokenID: String
    /// Its `exp`.
    public let expiresAt: Double
    /// Seconds from issuance to expiry (`expires_in`).
    public let expiresIn: Int
}

/// Mints and publishes the gateway's access tokens.
public final class TokenIssuer: Sendable {
    private struct State {
        var active: SigningKey
        /// The active key's public half, derived once (deriving it goes through PEM).
        var activeVerification: VerificationKey?
        var previous: [(key: VerificationKey, retainUntil: Double)]
    }

    /// `iss` of every token (the gateway's issuer identifier).
    public let issuer: String
    /// `aud` of every token (the FHIR base URL).
    public let audience: String
    /// Token lifetime in seconds; SMART 2.2: `expires_in` SHOULD NOT exceed 300.
    public let lifetime: Int
    private let state: Mutex<State>

    /// - Parameters:
    ///   - issuer: the gateway issuer URL, e.g. `https://gw.example:8443`.
    ///   - audience: the FHIR base URL, e.g. `https://gw.example:8443/fhir`.
    ///   - activeKey: the signing key (ES256/ES384/RS256/RS384).
    ///   - previousKeys: keys still trusted for tokens they signed, each until its time.
    ///   - lifetime: seconds, clamped to 1...300.
    public init(
        issuer: String, audience: String, activeKey: SigningKey,
        previousKeys: [(key: VerificationKey, retainUntil: Double)] = [], lifetime: Int = 300
    ) {
        self.issuer = issuer
        self.audience = audience
        self.lifetime = min(max(lifetime, 1), 300)
        self.state = Mutex(
            State(active: activeKey, activeVerification: try? activeKey.verificationKey(), previous: previousKeys))
    }

    /// Signs a new access token for `clientID` with `scopes`.
    ///
    /// - Parameter extraClaims: further claims (e.g. `patient`) appended after the standard ones.
    /// - Throws: `JOSEError.invalidKey` if signing fails.
    public func issue(
        clientID: String, scopes: [String], now: Double, extraClaims: [(String, JSONValue)] = []
    ) throws(JOSEError) -> IssuedToken {
        let issuedAt = now.rounded(.down)
        let expiresAt = issuedAt + Double(lifetime)
        let jti = RandomID.hex128()
        var members: [(String, JSONValue)] = [
            ("iss", .string(issuer)), ("aud", .string(audience)), ("sub", .string(clientID)),
            ("client_id", .string(clientID)), ("scope", .string(scopes.joined(separator: " "))),
            ("iat", .number(String(Int64(issuedAt)))), ("exp", .number(String(Int64(expiresAt)))),
            ("jti", .string(jti)),
        ]
        members += extraClaims
        let claims = JSONBuild.object(members)
        let token = try state.withLock { $0.active }.sign(claims: claims, type: "at+jwt")
        return IssuedToken(accessToken: token, tokenID: jti, expiresAt: expiresAt, expiresIn: lifetime)
    }

    /// Makes `newKey` the signing key; the old key stays trusted and published until `now + lifetime + 60`.
    public func rotate(to newKey: SigningKey, now: Double) throws(JOSEError) {
        let old = try state.withLock { $0.active }.verificationKey()
        let new = try newKey.verificationKey()
        state.withLock { state in
            state.previous.append((old, now + Double(lifetime) + 60))
            state.active = newKey
            state.activeVerification = new
        }
    }

    /// The keys that verify the gateway's tokens at `now`: the active key and unexpired previous keys.
    public func verificationKeys(now: Double) -> VerificationKeySet {
        let (active, previous) = state.withLock { ($0.activeVerification, $0.previous) }
        var keys = previous.filter { $0.retainUntil > now }.map(\.key)
        if let active { keys.insert(active, at: 0) }
        return VerificationKeySet(keys)
    }

    /// The JWK Set for `GET /auth/jwks`: public keys only, active first.
    public func jwks(now: Double) -> JSONValue {
        let keys = verificationKeys(now: now).keys.map {
            JWK.publicJSON(for: $0.publicKey, keyID: $0.keyID, algorithm: $0.algorithm)
        }
        return JSONBuild.object([("keys", .array(keys))])
    }

    /// The active key's id.
    public var activeKeyID: String { state.withLock { $0.active.keyID } }
}
