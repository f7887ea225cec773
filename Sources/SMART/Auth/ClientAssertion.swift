// The requester side of SMART Backend Services (SPEC-DIGEST §1.5): builds the signed client assertion that
// `pdmp-gateway token` posts to a token endpoint, so operators can test a registration.

import GatewayCore
public import GatewayCrypto
public import JOSE

/// Client assertions for `private_key_jwt` (RFC 7523, SMART 2.2 client-confidential-asymmetric).
public enum ClientAssertion {
    /// Signs an assertion with header `{"alg", "kid", "typ": "JWT"}` and claims `iss` = `sub` = `clientID`,
    /// `aud` = `tokenURL`, `iat` = now, `exp` = now + `lifetime` (at most 300 s), and a random `jti`.
    ///
    /// - Throws: `JOSEError.invalidKey` when `algorithm` does not fit `key`.
    public static func make(
        clientID: String, tokenURL: String, key: PrivateKey, kid: String, algorithm: JWSAlgorithm, now: Double,
        lifetime: Double = 240
    ) throws(JOSEError) -> String {
        let signer = try SigningKey(keyID: kid, algorithm: algorithm, privateKey: key)
        let issuedAt = Int64(now.rounded(.down))
        let expiresAt = issuedAt + Int64(min(max(lifetime, 1), 300))
        let claims = JSONBuild.object([
            ("iss", .string(clientID)), ("sub", .string(clientID)), ("aud", .string(tokenURL)),
            ("iat", .number(String(issuedAt))), ("exp", .number(String(expiresAt))),
            ("jti", .string(RandomID.hex128())),
        ])
        return try signer.sign(claims: claims, type: "JWT")
    }

    /// The `application/x-www-form-urlencoded` body of a token request carrying `assertion`.
    public static func tokenRequestBody(assertion: String, scopes: [String]) -> String {
        let pairs = [
            ("grant_type", "client_credentials"), ("scope", scopes.joined(separator: " ")),
            ("client_assertion_type", AuthorizationServer.clientAssertionType), ("client_assertion", assertion),
        ]
        return pairs.map { "\($0.0)=\(formEncode($0.1))" }.joined(separator: "&")
    }

    /// Percent-encodes everything but unreserved characters (RFC 3986 §2.3); space becomes `%20`.
    static func formEncode(_ value: String) -> String {
        var out = ""
        for byte in value.utf8 {
            let unreserved =
                (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                || byte == 0x2D || byte == 0x2E || byte == 0x5F || byte == 0x7E
            if unreserved {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let hex = Array("0123456789ABCDEF".unicodeScalars)
                out += "%" + String(hex[Int(byte >> 4)]) + String(hex[Int(byte & 0x0F)])
            }
        }
        return out
    }
}
