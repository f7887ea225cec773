// Attack cases JWT-01..12 and JWT-15 (shared/attack-cases.md §A) at the JOSE layer: every variant must
// fail verification. The issuer profile mirrors the cases: gateway key `gw-rs-1` bound to RS256 only.

import Foundation
import GatewayCore
import GatewayCrypto
import Testing

@testable import JOSE

@Suite("JWT attack cases") struct JWTAttackTests {
    static let now = 1_800_000_000.0
    static let key = TestTokens.rsa
    static let keys = VerificationKeySet([TestTokens.verificationKey(TestTokens.rsa, kid: "gw-rs-1", .rs256)])
    static let rules = JWTClaimRules(
        issuer: "https://gw.example:8443", audience: .containing("https://gw.example:8443/fhir"),
        types: ["at+jwt"], maxLifetime: 3600, requireJTI: true)
    static let header = #"{"alg":"RS256","typ":"at+jwt","kid":"gw-rs-1"}"#

    static func claims(exp: String = "1800000300", aud: String = #""https://gw.example:8443/fhir""#) -> String {
        #"{"iss":"https://gw.example:8443","aud":\#(aud),"sub":"app-1","client_id":"app-1","patient":"pt-alice","#
            + #""scope":"patient/*.*","iat":1800000000,"exp":\#(exp),"jti":"j-1"}"#
    }

    static func signed(header: String = header, claims: String = claims()) -> String {
        TestTokens.token(header: header, claims: claims, key: key, scheme: .rsaPKCS1v15(.sha256))
    }

    static func verify(_ token: String) throws(JOSEError) -> VerifiedJWT {
        try VerifiedJWT.verify(token, keys: keys, rules: rules, now: now)
    }

    @Test("Control: a well-formed gateway token verifies")
    func control() throws {
        let jwt = try Self.verify(Self.signed())
        #expect(try jwt.claims.requiredString("patient") == "pt-alice")
    }

    @Test(
        "JWT-01: alg none in any spelling, empty or random signature, or two parts, is refused",
        arguments: ["none", "None", "NONE", "nOnE"])
    func algNone(alg: String) {
        let header = #"{"alg":"\#(alg)","typ":"JWT"}"#
        let empty = Base64URL.encode(header) + "." + Base64URL.encode(Self.claims()) + "."
        let random = TestTokens.token(header: header, claims: Self.claims(), signature: SecureRandom.bytes(64))
        let twoParts = Base64URL.encode(header) + "." + Base64URL.encode(Self.claims())
        for token in [empty, random, twoParts] {
            #expect(throws: JOSEError.self) { try Self.verify(token) }
        }
    }

    @Test("JWT-02: HS256 keyed with any form of the RSA public key is refused")
    func keyConfusion() throws {
        let pem = try Self.key.publicPEM()
        let jwkText = JWK.publicJSON(for: try Self.key.publicKey(), keyID: "gw-rs-1", algorithm: .rs256).serialized()
        let secrets: [[UInt8]] = [Array(pem.utf8), Array(pem.utf8.dropLast()), jwkText]
        let header = #"{"alg":"HS256","typ":"at+jwt","kid":"gw-rs-1"}"#
        for secret in secrets {
            let input = Base64URL.encode(header) + "." + Base64URL.encode(Self.claims())
            let token = input + "." + Base64URL.encode(HMAC.sha256(key: secret, message: Array(input.utf8)))
            #expect(throws: JOSEError.algorithmNotAllowed("HS256")) { try Self.verify(token) }
        }
    }

    @Test("JWT-03: psychic ES256 signatures are refused for an ES256-bound key")
    func psychic() throws {
        let ecKeys = VerificationKeySet([TestTokens.verificationKey(TestTokens.es256, kid: "partner-ec-1", .es256)])
        let header = #"{"alg":"ES256","kid":"partner-ec-1"}"#
        let order = Base64URL.decode(
            "_____wAAAAD__________7zm-q2nF56E87nKwvxjJVH_____AAAAAP__________vOb6racXnoTzucrC_GMlUQ")!
        let zero = [UInt8](repeating: 0, count: 32)
        let one = [UInt8](repeating: 0, count: 31) + [1]
        let der: [UInt8] = [0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00]
        for signature in [zero + zero, order, one + zero, der] {
            let jws = try CompactJWS.parse(
                TestTokens.token(header: header, claims: Self.claims(), signature: signature))
            #expect(throws: JOSEError.invalidSignature) { try ecKeys.verify(jws, requireKeyID: true) }
        }
    }

    @Test("JWT-05: kid is only compared for equality; path, SQL, NUL and huge kids find no key")
    func hostileKid() {
        let kids = ["../../../../../../dev/null", "x' UNION SELECT 'k1'-- ", "gw-rs-1\\u0000../../etc/passwd"]
        for kid in kids {
            let token = Self.signed(header: #"{"alg":"RS256","typ":"at+jwt","kid":"\#(kid)"}"#)
            #expect(throws: JOSEError.keyNotFound) { try Self.verify(token) }
        }
        let huge = Self.signed(header: #"{"alg":"RS256","kid":"\#(String(repeating: "k", count: 65536))"}"#)
        #expect(throws: JOSEError.malformed("token too long")) { try Self.verify(huge) }
    }

    @Test("JWT-06: jku and x5u are never dereferenced; the attacker's key does not verify")
    func jkuIgnored() throws {
        let attacker = TestTokens.es256
        for extra in [
            #""jku":"https://attacker.example/jwks.json""#, #""x5u":"http://127.0.0.1:8080/fhir/Patient""#,
            #""jku":"file:///etc/passwd""#,
        ] {
            let header = #"{"alg":"ES256","kid":"gw-rs-1",\#(extra)}"#
            let token = TestTokens.token(header: header, claims: Self.claims(), key: attacker, scheme: .ecdsa(.sha256))
            #expect(throws: JOSEError.algorithmNotAllowed("ES256")) { try Self.verify(token) }
        }
        let rsaAttacker = try PrivateKey.generateRSA(bits: 2048)
        let header = #"{"alg":"RS256","kid":"gw-rs-1","jku":"https://attacker.example/jwks.json"}"#
        let token = TestTokens.token(
            header: header, claims: Self.claims(), key: rsaAttacker, scheme: .rsaPKCS1v15(.sha256))
        #expect(throws: JOSEError.invalidSignature) { try Self.verify(token) }
    }

    @Test(
        "JWT-08: any crit member is refused, even with a valid signature",
        arguments: [
            #""crit":["https://gw.example/ext/step-up"],"https://gw.example/ext/step-up":true"#,
            #""crit":[]"#, #""crit":"https://gw.example/ext/step-up""#, #""crit":[null]"#, #""crit":["exp"]"#,
            #""crit":["absent"]"#,
        ])
    func crit(member: String) {
        let token = Self.signed(header: #"{"alg":"RS256","typ":"at+jwt","kid":"gw-rs-1",\#(member)}"#)
        #expect(throws: JOSEError.unsupportedHeader("crit")) { try Self.verify(token) }
    }

    @Test(
        "JWT-09: exp absent, non-numeric, absurd or not in the future is refused",
        arguments: [
            nil, #""0""#, #""9999999999""#, "null", "1e308", "100000000000000000000000000000000000000000000000000",
            "true", "1800000000", "1834560000",
        ])
    func expiry(exp: String?) {
        var claims = Self.claims()
        if let exp {
            claims = claims.replacingOccurrences(of: #""exp":1800000300"#, with: #""exp":\#(exp)"#)
        } else {
            claims = claims.replacingOccurrences(of: #","exp":1800000300"#, with: "")
        }
        #expect(throws: JOSEError.self) { try Self.verify(Self.signed(claims: claims)) }
    }

    @Test("JWT-11: aud array containing the audience passes; near-misses fail")
    func audience() throws {
        _ = try Self.verify(
            Self.signed(claims: Self.claims(aud: #"["https://other-api.example","https://gw.example:8443/fhir"]"#)))
        let misses = [
            #"["https://other-api.example"]"#, #"[["https://gw.example:8443/fhir"]]"#,
            #""https://gw.example:8443/fhir/""#,
            #""HTTPS://GW.EXAMPLE:8443/fhir""#, #""""#, "null", "[]",
        ]
        for aud in misses {
            #expect(throws: JOSEError.self) { try Self.verify(Self.signed(claims: Self.claims(aud: aud))) }
        }
        let absent = Self.claims().replacingOccurrences(of: #""aud":"https://gw.example:8443/fhir","#, with: "")
        #expect(throws: JOSEError.wrongAudience) { try Self.verify(Self.signed(claims: absent)) }
    }

    @Test("JWT-12: duplicate members in claims, header or nested objects are refused")
    func duplicates() {
        let base = Self.claims()
        let variants = [
            base.replacingOccurrences(of: #""patient":"pt-alice""#, with: #""patient":"pt-alice","patient":"pt-bob""#),
            base.replacingOccurrences(of: #""scope":"patient/*.*""#, with: #""scope":"a","scope":"patient/*.cruds""#),
            base.replacingOccurrences(of: #""jti":"j-1""#, with: #""jti":"j-1","cnf":{"jkt":"a","jkt":"b"}"#),
        ]
        for claims in variants {
            #expect(throws: JOSEError.malformed("claims is not strict JSON")) {
                try Self.verify(Self.signed(claims: claims))
            }
        }
        let header = #"{"alg":"RS256","alg":"none","typ":"at+jwt","kid":"gw-rs-1"}"#
        #expect(throws: JOSEError.malformed("header is not strict JSON")) {
            try Self.verify(Self.signed(header: header))
        }
    }

    @Test("JWT-15: a client assertion or an id_token-shaped JWT is not an access token")
    func tokenConfusion() {
        let assertionHeader = #"{"alg":"RS256","typ":"JWT","kid":"gw-rs-1"}"#
        #expect(throws: JOSEError.wrongType) { try Self.verify(Self.signed(header: assertionHeader)) }
        let noType = #"{"alg":"RS256","kid":"gw-rs-1"}"#
        #expect(throws: JOSEError.wrongType) { try Self.verify(Self.signed(header: noType)) }
        let assertionClaims = Self.claims(aud: #""https://gw.example:8443/auth/token""#)
        #expect(throws: JOSEError.wrongAudience) { try Self.verify(Self.signed(claims: assertionClaims)) }
    }

    @Test(
        "Structural faults are malformed, never a crash",
        arguments: [
            "", ".", "..", "a.b.c", "a.b.c.d", "eyJhbGciOiJSUzI1NiJ9..sig", "eyJhbGciOiJSUzI1NiJ9.e30.", "W10.e30.AA",
            "eyJhbGciOjF9.e30.AA", "eyJhbGciOiJSUzI1NiJ9.e30=.AA", " eyJhbGciOiJSUzI1NiJ9.e30.AA",
        ])
    func structure(token: String) {
        #expect(throws: JOSEError.self) { try Self.verify(token) }
    }

    @Test("A payload that is not an object is refused after the signature check")
    func payloadNotObject() {
        #expect(throws: JOSEError.malformed("claims is not a JSON object")) {
            try Self.verify(Self.signed(claims: "[1,2]"))
        }
    }
}
