// Helpers that build tokens byte by byte, so tests can send exactly the hostile header or claims text a
// case describes (duplicate members, wrong types) with a real signature from a key made at test time.

import GatewayCore
import GatewayCrypto

@testable import JOSE

enum TestTokens {
    static let es256 = try! PrivateKey.generateEC(.p256)
    static let es384 = try! PrivateKey.generateEC(.p384)
    static let rsa = try! PrivateKey.generateRSA(bits: 2048)

    /// header.claims.signature with the given raw JSON texts, signed by `key` under `scheme`.
    static func token(header: String, claims: String, key: PrivateKey, scheme: SignatureScheme) -> String {
        let input = Base64URL.encode(header) + "." + Base64URL.encode(claims)
        let signature = try! key.sign(Array(input.utf8), scheme: scheme)
        return input + "." + Base64URL.encode(signature)
    }

    /// The same with an explicit signature.
    static func token(header: String, claims: String, signature: [UInt8]) -> String {
        Base64URL.encode(header) + "." + Base64URL.encode(claims) + "." + Base64URL.encode(signature)
    }

    static func verificationKey(_ key: PrivateKey, kid: String, _ alg: JWSAlgorithm) -> VerificationKey {
        try! VerificationKey(keyID: kid, algorithm: alg, publicKey: key.publicKey())
    }
}
