// A key bound to exactly one algorithm when it is loaded (rule 0.1): the token's `alg` only selects among
// loaded (kid, algorithm) pairs and is compared for equality; it never chooses how a key is used. An RSA
// key can therefore never verify HS256 (JWT-02), and an EC key only the ES* of its own curve.

public import GatewayCrypto

/// A public key bound to a key id and one algorithm.
public struct VerificationKey: Sendable {
    /// The key id tokens name in `kid`.
    public let keyID: String
    /// The only algorithm this key verifies.
    public let algorithm: JWSAlgorithm
    /// The key.
    public let publicKey: PublicKey

    /// Binds `publicKey` to `algorithm`.
    ///
    /// - Throws: `JOSEError.invalidKey` when the algorithm does not fit the key (type, curve, RSA size).
    public init(keyID: String, algorithm: JWSAlgorithm, publicKey: PublicKey) throws(JOSEError) {
        switch publicKey.kind {
        case .rsa(let bits):
            guard algorithm.isRSA else { throw .invalidKey("\(algorithm.rawValue) on an RSA key") }
            guard bits >= JWK.minimumRSABits else { throw .invalidKey("RSA key below 2048 bits") }
        case .ec(let curve):
            guard algorithm.curve == curve else { throw .invalidKey("\(algorithm.rawValue) on \(curve.rawValue)") }
        }
        self.keyID = keyID
        self.algorithm = algorithm
        self.publicKey = publicKey
    }

    /// The verification keys a JWK yields under an algorithm allow-list: its own `alg` if it names one (and
    /// it is allowed), otherwise one binding per allowed algorithm that fits the key. A JWK without `kid`
    /// yields nothing (SMART 2.2: every key carries a `kid`).
    public static func bindings(of jwk: JWK, allowed: Set<JWSAlgorithm>) -> [VerificationKey] {
        guard let keyID = jwk.keyID else { return [] }
        let candidates = jwk.algorithm.map { [$0] } ?? JWSAlgorithm.allCases
        return candidates.filter { allowed.contains($0) }.compactMap {
            try? VerificationKey(keyID: keyID, algorithm: $0, publicKey: jwk.publicKey)
        }
    }

    /// Checks the JWS signature with this key: `alg` must equal the bound algorithm, and the signature must
    /// have the exact length (ES256 64, ES384 96, ES512 132, RSA the modulus length).
    public func verifies(_ jws: CompactJWS) -> Bool {
        guard jws.algorithmName == algorithm.rawValue else { return false }
        guard jws.signature.count == expectedSignatureLength else { return false }
        return publicKey.verify(jws.signature, for: jws.signingInput, scheme: algorithm.scheme)
    }

    /// The exact signature length for this key and algorithm.
    public var expectedSignatureLength: Int {
        switch publicKey.kind {
        case .rsa(let bits): (bits + 7) / 8
        case .ec(let curve): 2 * curve.coordinateByteCount
        }
    }
}

/// The keys one trust source (an issuer, or one client) verifies with.
public struct VerificationKeySet: Sendable {
    /// The bound keys.
    public let keys: [VerificationKey]

    /// A set of already bound keys.
    public init(_ keys: [VerificationKey]) { self.keys = keys }

    /// Binds every key of a JWK Set under an allow-list.
    public init(jwks: JWKSet, allowed: Set<JWSAlgorithm>) {
        keys = jwks.keys.flatMap { VerificationKey.bindings(of: $0, allowed: allowed) }
    }

    /// True when some key has this `kid` (used to decide whether an unknown kid warrants a refetch).
    public func contains(keyID: String) -> Bool { keys.contains { $0.keyID == keyID } }

    /// Selects the single key for the header's (`kid`, `alg`) and verifies. With `requireKeyID`, a header
    /// without `kid` fails; without it, a missing `kid` matches keys of that algorithm.
    ///
    /// - Throws: `.algorithmNotAllowed` when no key is bound to the header `alg`, `.keyNotFound`,
    ///   `.ambiguousKey` (SMART 2.2 §"Signature Verification": zero or several matches fail), or
    ///   `.invalidSignature`.
    public func verify(_ jws: CompactJWS, requireKeyID: Bool) throws(JOSEError) -> VerificationKey {
        let kid = jws.keyID
        if requireKeyID, kid == nil { throw .unsupportedHeader("kid is required") }
        guard keys.contains(where: { $0.algorithm.rawValue == jws.algorithmName }) else {
            throw .algorithmNotAllowed(String(jws.algorithmName.prefix(16)))
        }
        let matches = keys.filter { $0.algorithm.rawValue == jws.algorithmName && (kid == nil || $0.keyID == kid) }
        guard let key = matches.first else { throw .keyNotFound }
        guard matches.count == 1 else { throw .ambiguousKey }
        guard key.verifies(jws) else { throw .invalidSignature }
        return key
    }
}
