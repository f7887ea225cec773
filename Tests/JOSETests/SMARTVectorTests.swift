// The SMART App Launch 2.2.0 example assertions (SPEC-DIGEST §1.10), verified with a fixed clock before
// their 2015 expiry. Public keys and tokens are public test vectors from HL7/smart-app-launch.

import GatewayCore
import Testing

@testable import JOSE

@Suite("SMART example assertions") struct SMARTVectorTests {
    static let rs384JWK = """
        {"kty":"RSA","alg":"RS384","n":"wJq2RHIA-7RT6q4go7wjcbHdW7ck7Kz22A8wf-kN7Wi5CWvhFG2_Y7nQp1lDpb2IKMQr-Q4n_vgJ\
        6d5rWPspJpSPY7iffUK4ipQCEbzID5DJ6fQMBZOfCTXyxkuMh3jYGKEF3Ziw2oxbM1H9j-eJAPtrj5stUG6kVoXowegdox-bSjWP0iI5Pnk\
        wUNzcekLMug4M3LRluEQgGR9O_BAML6-w3igZ_rZA_gunyrLAMbfmCVaceW5ohLp679kyM7U6W2gDK_NbkDKcINUakVmPeoG5h8RzgGzvGry\
        SR0k0VDFiZv60Ua07DqHTeDGH9e4NV07AECae-oykIj5NDCs3pw","e":"AQAB","key_ops":["verify"],"ext":true,\
        "kid":"eee9f17a3b598fd86417a980b591fbe6"}
        """
    static let es384JWK = """
        {"kty":"EC","crv":"P-384","x":"pyqburM9y8HPcFhNosDW6ngoVEJitqXi_HJgI5hYqX21PoFDwCbYirGy_o0oapIU",\
        "y":"95bxkCnMKoHvgbcPAIAcgzzu8scd81mXfM_IzuJFNfkUNkGYBFGvuEU1KPi5j1ob","key_ops":["verify"],"ext":true,\
        "kid":"cd520211e5661dbba2256f67f6d53f97","alg":"ES384"}
        """
    static let claimsPart =
        "eyJpc3MiOiJodHRwczovL2JpbGktbW9uaXRvci5leGFtcGxlLmNvbSIsInN1YiI6Imh0dHBzOi8vYmlsaS1tb25pdG9yLmV4Y"
        + "W1wbGUuY29tIiwiYXVkIjoiaHR0cHM6Ly9hdXRob3JpemUuc21hcnRoZWFsdGhpdC5vcmcvdG9rZW4iLCJleHAiOjE0MjI1Njg4NjAsImp0"
        + "aSI6InJhbmRvbS1ub24tcmV1c2FibGUtand0LWlkLTEyMyJ9"
    static let rs384Token =
        "eyJhbGciOiJSUzM4NCIsImtpZCI6ImVlZTlmMTdhM2I1OThmZDg2NDE3YTk4MGI1OTFmYmU2IiwidHlwIjoiSldUIn0."
        + claimsPart
        + ".D5kAqNJwaftCqsRdVVQDq6dMBxuGFOF5svQJuXbcYp-oEyg5qOwK9ZE5cGLTHxqwfpUPNzRKgVdIGuhawAA-8g0s1nKQae8"
        + "CuKs33hhKh4J34xSEwW3MYs1gwI4GHTtR_g3kYSX6QCi14Ed3GIAvYFgqRqt-gD7sewMUXL4SB8I8cXcDbCqVizm7uPVhjw6QaeKZygJJ_AV"
        + "LhM4Xs9LTy4HAhdCHpN0FrNmCerUIYJvHDpcod7A0jDmxdoeW1KIBYlhdhQNwjtsTvT1ce4qacN_3KIv_fIzCKLIgDv9eWxkjAtxOmIm8aW5g"
        + "X9xX7X0nbd0QglIyiic_bZVNNEh0kg"
    static let es384Token =
        "eyJhbGciOiJFUzM4NCIsImtpZCI6ImNkNTIwMjExZTU2NjFkYmJhMjI1NmY2N2Y2ZDUzZjk3IiwidHlwIjoiSldUIn0."
        + claimsPart
        + ".ddl5N8dt5PYI_7syKg_dm1wj1LR3dYVztFlTODs6pU1vKH1Zv3d9NctbnAsZ4aZ1K7HE83_fA_hIAL0JsU1GoB7roLmrpj8z"
        + "fygG9Q1ZBAmKNoR60pyONPZsGTihoR29"
    /// The older Bulk Data v1 variant: `typ` first in the header, iss = sub = `bili_monitor`.
    static let rs384BulkV1Token =
        "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzM4NCIsImtpZCI6ImVlZTlmMTdhM2I1OThmZDg2NDE3YTk4MGI1OTFmY"
        + "mU2In0.eyJpc3MiOiJiaWxpX21vbml0b3IiLCJzdWIiOiJiaWxpX21vbml0b3IiLCJhdWQiOiJodHRwczovL2F1dGhvcml6ZS5zbWFydGhl"
        + "YWx0aGl0Lm9yZy90b2tlbiIsImV4cCI6MTQyMjU2ODg2MCwianRpIjoicmFuZG9tLW5vbi1yZXVzYWJsZS1qd3QtaWQtMTIzIn0.l2E3-Tha"
        + "hEzJ_gaAK8sosc9uk1uhsISmJfwQOtooEcgUiqkdMFdAUE7sr8uJN0fTmTP9TUxssFEAQnCOF8QjkMXngEruIL190YVlwukGgv1wazsi_ptI9"
        + "euWAf2AjOXaPFm6t629vzdznzVu08EWglG70l41697AXnFK8GUWSBf_8WHrcmFwLD_EpO_BWMoEIGDOOLGjYzOB_eN6abpUo4GCB9gX2-U8IGX"
        + "AU8UG-axLb35qY7Mczwq9oxM9Z0_IcC8R8TJJQFQXzazo9YZmqts6qQ4pRlsfKpy9IzyLzyR9KZyKLZalBytwkr2lW7QU3tC-xPrf43jQFVKr"
        + "07f9dA"

    static let clock = FixedClock(1_422_568_800)  // one minute before exp
    static let rules = JWTClaimRules(
        audience: .single("https://authorize.smarthealthit.org/token"), types: ["JWT"], maxLifetime: 300,
        requireJTI: true)

    static func keys(_ json: String, allowed: Set<JWSAlgorithm>) throws -> VerificationKeySet {
        let jwk = try JWK(json: Array(json.utf8))
        return VerificationKeySet(VerificationKey.bindings(of: jwk, allowed: allowed))
    }

    @Test("The RS384 worked example verifies with RSASSA-PKCS1-v1_5/SHA-384 and its claims pass")
    func rs384() throws {
        let keys = try Self.keys(Self.rs384JWK, allowed: [.rs384])
        let jwt = try VerifiedJWT.verify(Self.rs384Token, keys: keys, rules: Self.rules, now: Self.clock.now())
        #expect(jwt.key.algorithm == .rs384)
        #expect(try jwt.claims.requiredString("iss") == "https://bili-monitor.example.com")
        #expect(jwt.times.expiresAt == 1_422_568_860)
        #expect(jwt.jws.signature.count == 256)
    }

    @Test("The Bulk Data v1 RS384 variant verifies with the same key")
    func rs384BulkV1() throws {
        let keys = try Self.keys(Self.rs384JWK, allowed: [.rs384])
        let jwt = try VerifiedJWT.verify(Self.rs384BulkV1Token, keys: keys, rules: Self.rules, now: Self.clock.now())
        #expect(try jwt.claims.requiredString("sub") == "bili_monitor")
    }

    @Test("The ES384 example verifies: 96-byte raw r||s on P-384")
    func es384() throws {
        let keys = try Self.keys(Self.es384JWK, allowed: [.es384, .rs384])
        let jwt = try VerifiedJWT.verify(Self.es384Token, keys: keys, rules: Self.rules, now: Self.clock.now())
        #expect(jwt.jws.signature.count == 96)
        #expect(jwt.key.keyID == "cd520211e5661dbba2256f67f6d53f97")
    }

    @Test("After exp the same assertions are expired")
    func expired() throws {
        let keys = try Self.keys(Self.es384JWK, allowed: [.es384])
        #expect(throws: JOSEError.expired) {
            try VerifiedJWT.verify(Self.es384Token, keys: keys, rules: Self.rules, now: 1_422_568_860)
        }
    }

    @Test("An RSA key without alg is bound only to the allowed algorithms")
    func bindingFollowsAllowList() throws {
        let keys = try Self.keys(Self.rs384JWK, allowed: [.rs256])
        #expect(throws: JOSEError.algorithmNotAllowed("RS384")) {
            try VerifiedJWT.verify(Self.rs384Token, keys: keys, rules: Self.rules, now: Self.clock.now())
        }
    }

    @Test("A flipped bit anywhere in the signature fails", arguments: [0, 47, 95])
    func tampered(index: Int) throws {
        let keys = try Self.keys(Self.es384JWK, allowed: [.es384])
        var jws = try CompactJWS.parse(Self.es384Token)
        var signature = jws.signature
        signature[index] ^= 0x01
        let token =
            Self.es384Token.split(separator: ".").prefix(2).joined(separator: ".") + "."
            + Base64URL.encode(signature)
        jws = try CompactJWS.parse(token)
        #expect(throws: JOSEError.invalidSignature) { try keys.verify(jws, requireKeyID: true) }
    }
}
