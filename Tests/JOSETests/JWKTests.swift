import Foundation
import GatewayCore
import GatewayCrypto
import Testing

@testable import JOSE

@Suite("JWK and JWK Set") struct JWKTests {
    static func ecJSON(_ key: PrivateKey, extra: String = #","kid":"k1""#) throws -> String {
        let (x, y) = try #require(try key.publicKey().ecCoordinates)
        let crv = key.kind == .ec(.p384) ? "P-384" : "P-256"
        return #"{"kty":"EC","crv":"\#(crv)","x":"\#(Base64URL.encode(x))","y":"\#(Base64URL.encode(y))"\#(extra)}"#
    }

    @Test("Published JWKs of generated keys parse back to the same key")
    func roundTrip() throws {
        for (key, alg) in [(TestTokens.es384, JWSAlgorithm.es384), (TestTokens.rsa, .rs384)] {
            let json = JWK.publicJSON(for: try key.publicKey(), keyID: "k", algorithm: alg).serialized()
            let jwk = try JWK(json: json)
            #expect(jwk.keyID == "k" && jwk.algorithm == alg)
            #expect(try jwk.publicKey.pem() == key.publicKey().pem())
        }
    }

    @Test("EC coordinates that are not the full curve length are refused")
    func ecLength() throws {
        let (x, y) = try #require(try TestTokens.es384.publicKey().ecCoordinates)
        let short =
            #"{"kty":"EC","crv":"P-384","x":"\#(Base64URL.encode(Array(x.dropFirst())))","#
            + #""y":"\#(Base64URL.encode(y))","kid":"k"}"#
        #expect(throws: JOSEError.self) { try JWK(json: Array(short.utf8)) }
        let wrongCurve = try Self.ecJSON(TestTokens.es384).replacingOccurrences(of: "P-384", with: "P-256")
        #expect(throws: JOSEError.self) { try JWK(json: Array(wrongCurve.utf8)) }
    }

    @Test(
        "Private members, enc use, key_ops without verify and a mismatched alg are refused",
        arguments: [
            #","kid":"k","d":"AAAA""#, #","kid":"k","use":"enc""#, #","kid":"k","key_ops":["sign"]"#,
            #","kid":"k","alg":"RS256""#, #","kid":"k","alg":"ES384""#, #","kid":"k","alg":"none""#, #","kid":7"#,
        ])
    func refused(extra: String) throws {
        let json = try Self.ecJSON(TestTokens.es256, extra: extra)
        #expect(throws: JOSEError.self) { try JWK(json: Array(json.utf8)) }
    }

    @Test("RSA keys below 2048 bits, non-canonical n, and even exponents are refused")
    func rsaRules() throws {
        let (n, _) = try #require(try TestTokens.rsa.publicKey().rsaComponents)
        func json(_ n: [UInt8], _ e: String = "AQAB") -> [UInt8] {
            Array(#"{"kty":"RSA","n":"\#(Base64URL.encode(n))","e":"\#(e)","kid":"r"}"#.utf8)
        }
        #expect(try JWK(json: json(n)).publicKey.kind == .rsa(bits: 2048))
        #expect(throws: JOSEError.self) { try JWK(json: json(Array(n.prefix(128)))) }
        #expect(throws: JOSEError.self) { try JWK(json: json([0] + n)) }
        #expect(throws: JOSEError.self) { try JWK(json: json(n, "AQAA")) }
        #expect(throws: JOSEError.self) { try JWK(json: json(n, "AQ")) }
    }

    @Test("A JWK Set skips unusable keys leniently and fails them strictly")
    func sets() throws {
        let good = try Self.ecJSON(TestTokens.es256)
        let text = #"{"keys":[\#(good),{"kty":"oct","k":"c2VjcmV0","kid":"h"},{"kty":"OKP","kid":"o"}]}"#
        let lenient = try JWKSet.parse(Array(text.utf8))
        #expect(lenient.keys.count == 1 && lenient.rejected.map(\.index) == [1, 2])
        #expect(throws: JOSEError.self) { try JWKSet.parse(Array(text.utf8), strict: true) }
        let duplicateKid = #"{"keys":[\#(good),\#(good)]}"#
        #expect(throws: JOSEError.invalidKey("duplicate kid")) {
            try JWKSet.parse(Array(duplicateKid.utf8), strict: true)
        }
        #expect(throws: JOSEError.self) { try JWKSet.parse(Array(#"{"keys":{}}"#.utf8)) }
        #expect(throws: JOSEError.self) { try JWKSet.parse(Array(#"{"keys":[],"keys":[]}"#.utf8)) }
    }

    @Test("Two keys with the same kid and algorithm are ambiguous (SMART 2.2: fail)")
    func ambiguous() throws {
        let a = TestTokens.verificationKey(TestTokens.es256, kid: "same", .es256)
        let b = TestTokens.verificationKey(try PrivateKey.generateEC(.p256), kid: "same", .es256)
        let token = TestTokens.token(
            header: #"{"alg":"ES256","kid":"same"}"#, claims: "{}", key: TestTokens.es256, scheme: .ecdsa(.sha256))
        #expect(throws: JOSEError.ambiguousKey) {
            try VerificationKeySet([a, b]).verify(CompactJWS.parse(token), requireKeyID: true)
        }
        #expect(try VerificationKeySet([a]).verify(CompactJWS.parse(token), requireKeyID: true).keyID == "same")
    }

    @Test("A key is bound to one algorithm: ES256 key rejects ES384 and RSA-PSS keys reject RS tokens")
    func binding() throws {
        #expect(throws: JOSEError.self) {
            try VerificationKey(keyID: "k", algorithm: .es384, publicKey: TestTokens.es256.publicKey())
        }
        #expect(throws: JOSEError.self) {
            try VerificationKey(keyID: "k", algorithm: .rs256, publicKey: TestTokens.es256.publicKey())
        }
        let pss = TestTokens.verificationKey(TestTokens.rsa, kid: "k", .ps384)
        let rsToken = TestTokens.token(
            header: #"{"alg":"RS384","kid":"k"}"#, claims: "{}", key: TestTokens.rsa, scheme: .rsaPKCS1v15(.sha384))
        #expect(throws: JOSEError.algorithmNotAllowed("RS384")) {
            try VerificationKeySet([pss]).verify(CompactJWS.parse(rsToken), requireKeyID: true)
        }
        let psToken = TestTokens.token(
            header: #"{"alg":"PS384","kid":"k"}"#, claims: "{}", key: TestTokens.rsa, scheme: .rsaPSS(.sha384))
        #expect(try VerificationKeySet([pss]).verify(CompactJWS.parse(psToken), requireKeyID: true).algorithm == .ps384)
    }

    @Test(
        "SigningKey output verifies with its own verification key",
        arguments: [JWSAlgorithm.es256, .es384, .rs256, .rs384])
    func signing(alg: JWSAlgorithm) throws {
        let privateKey = alg.isRSA ? TestTokens.rsa : (alg == .es256 ? TestTokens.es256 : TestTokens.es384)
        let signer = try SigningKey(keyID: "gw-1", algorithm: alg, privateKey: privateKey)
        let claims = JSONSupport.make([("aud", .string("x")), ("exp", .number("100"))])
        let token = try signer.sign(claims: claims, type: "at+jwt")
        let jws = try CompactJWS.parse(token)
        #expect(jws.type == "at+jwt" && jws.keyID == "gw-1" && jws.algorithmName == alg.rawValue)
        #expect(try VerificationKeySet([signer.verificationKey()]).verify(jws, requireKeyID: true).keyID == "gw-1")
    }
}
