// Replay cache, discovery document and the requester-side client assertion.

import GatewayCore
import GatewayCrypto
import JOSE
import Testing

@testable import SMART

@Suite("Auth support pieces") struct AuthSupportTests {
    @Test("The replay cache answers fresh once per (issuer, jti) until expiry")
    func replayCache() {
        let cache = InMemoryReplayCache(capacity: 2, clock: { 1000 })
        #expect(cache.claim(issuer: "a", jti: "1", expiresAt: 1100) == .fresh)
        #expect(cache.claim(issuer: "a", jti: "1", expiresAt: 1100) == .replayed)
        #expect(cache.claim(issuer: "b", jti: "1", expiresAt: 1100) == .fresh)
        #expect(cache.claim(issuer: "c", jti: "1", expiresAt: 1100) == .unavailable)
        let later = InMemoryReplayCache(capacity: 1, clock: { 2000 })
        #expect(later.claim(issuer: "a", jti: "1", expiresAt: 1500) == .fresh)
        #expect(later.claim(issuer: "a", jti: "2", expiresAt: 2500) == .fresh)  // the expired entry made room
    }

    @Test("The discovery document has the fields SMART 2.2 requires for backend services")
    func discovery() {
        let doc = SMARTConfiguration.document(
            baseURL: "https://gw.example:8443", scopesSupported: ["system/Patient.rs"])
        #expect(doc["token_endpoint"]?.stringValue == "https://gw.example:8443/auth/token")
        #expect(doc["grant_types_supported"] == .array([.string("client_credentials")]))
        #expect(doc["token_endpoint_auth_methods_supported"] == .array([.string("private_key_jwt")]))
        #expect(
            doc["token_endpoint_auth_signing_alg_values_supported"] == .array([.string("RS384"), .string("ES384")]))
        #expect(doc["code_challenge_methods_supported"] == .array([.string("S256")]))
        #expect(doc["capabilities"]?.arrayValue?.contains(.string("client-confidential-asymmetric")) == true)
        #expect(doc["issuer"] == nil)
    }

    @Test("ClientAssertion.make produces an assertion the token endpoint accepts")
    func clientAssertion() throws {
        let assertion = try ClientAssertion.make(
            clientID: "app-1", tokenURL: AuthFixture.tokenURL, key: AuthFixture.clientKey, kid: "app-1-key",
            algorithm: .es384, now: AuthFixture.now)
        let jws = try CompactJWS.parse(assertion)
        #expect(jws.type == "JWT" && jws.algorithmName == "ES384")
        #expect(try jws.claims().numericDate("exp") == AuthFixture.now + 240)
        let body = ClientAssertion.tokenRequestBody(assertion: assertion, scopes: ["system/MedicationDispense.rs"])
        #expect(body.contains("scope=system%2FMedicationDispense.rs"))
        #expect(body.contains("client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"))
        let result = AuthFixture.server().handleTokenRequest(
            form: AuthFixture.form(assertion: assertion), tokenURL: AuthFixture.tokenURL, now: AuthFixture.now)
        #expect(result.status == 200)
        #expect(throws: JOSEError.self) {
            try ClientAssertion.make(
                clientID: "app-1", tokenURL: AuthFixture.tokenURL, key: AuthFixture.clientKey, kid: "k",
                algorithm: .rs384,
                now: AuthFixture.now)
        }
    }
}

@Suite("Introspection and capability security") struct AuthIntrospectionTests {
    @Test("An own token introspects as active with SMART's required members; anything else is only inactive")
    func introspection() throws {
        let issuer = AuthFixture.issuer()
        let validator = TokenValidator(ownIssuer: issuer, registry: { ClientRegistry([AuthFixture.client()]) })
        let token = try issuer.issue(clientID: "app-1", scopes: ["system/MedicationDispense.rs"], now: AuthFixture.now)
        let active = validator.introspectionResponse(token: token.accessToken, now: AuthFixture.now)
        #expect(active["active"] == .bool(true))
        #expect(active["client_id"]?.stringValue == "app-1")
        #expect(active["scope"]?.stringValue == "system/MedicationDispense.rs")
        #expect(active["exp"]?.intValue == Int(AuthFixture.now) + 300)
        let expired = validator.introspectionResponse(token: token.accessToken, now: AuthFixture.now + 301)
        #expect(expired == .object(JSONObject([("active", .bool(false))])))
        #expect(validator.introspectionResponse(token: "garbage", now: AuthFixture.now)["active"] == .bool(false))
    }

    @Test("The capability security element names the token endpoint")
    func capabilitySecurity() {
        let security = SMARTConfiguration.capabilitySecurity(baseURL: "https://gw.example:8443")
        let uri = security["extension"]?.arrayValue?.first?["extension"]?.arrayValue?.first?["valueUri"]
        #expect(uri?.stringValue == "https://gw.example:8443/auth/token")
    }
}
