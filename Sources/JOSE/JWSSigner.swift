// Producing compact JWS: the gateway's own access tokens and the requester-side client assertion. The
// header is written by this code only (alg, kid, typ); callers supply claims.

public import GatewayCore
public import GatewayCrypto

/// A private key bound to a key id and one algorithm, for signing.
public struct SigningKey: Sendable {
    /// The key id written to `kid`.
    public let keyID: String
    /// The algorithm written to `alg`.
    public let algorithm: JWSAlgorithm
    /// The private key.
    public let privateKey: PrivateKey

    /// Binds `privateKey` to `algorithm`.
    ///
    /// - Throws: `JOSEError.invalidKey` when the algorithm does not fit the key.
    public init(keyID: String, algorithm: JWSAlgorithm, privateKey: PrivateKey) throws(JOSEError) {
        switch privateKey.kind {
        case .rsa(let bits):
            guard algorithm.isRSA, bits >= JWK.minimumRSABits else { throw .invalidKey("\(algorithm.rawValue)") }
        case .ec(let curve):
            guard algorithm.curve == curve else { throw .invalidKey("\(algorithm.rawValue) on \(curve.rawValue)") }
        }
        self.keyID = keyID
        self.algorithm = algorithm
        self.privateKey = privateKey
    }

    /// The matching verification key (same kid and algorithm).
    public func verificationKey() throws(JOSEError) -> VerificationKey {
        let publicKey: PublicKey
        do {
            publicKey = try privateKey.publicKey()
        } catch {
            throw .invalidKey("cannot derive public key")
        }
        return try VerificationKey(keyID: keyID, algorithm: algorithm, publicKey: publicKey)
    }

    /// The public JWK for publication.
    public func publicJWK() throws(JOSEError) -> JSONValue {
        JWK.publicJSON(for: try verificationKey().publicKey, keyID: keyID, algorithm: algorithm)
    }

    /// Signs `claims` (a JSON object) with header `{"alg", "kid", "typ"}` and returns the compact JWS.
    ///
    /// - Throws: `JOSEError.invalidKey` if signing fails.
    public func sign(claims: JSONValue, type: String) throws(JOSEError) -> String {
        let header = JSONSupport.make([
            ("alg", .string(algorithm.rawValue)), ("kid", .string(keyID)), ("typ", .string(type)),
        ])
        let input = Base64URL.encode(header.serialized()) + "." + Base64URL.encode(claims.serialized())
        let signature: [UInt8]
        do {
            signature = try privateKey.sign(Array(input.utf8), scheme: algorithm.scheme)
        } catch {
            throw .invalidKey("signing failed")
        }
        return input + "." + Base64URL.encode(signature)
    }
}
