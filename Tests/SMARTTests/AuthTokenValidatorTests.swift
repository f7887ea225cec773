// Bearer validation: own tokens, JWT-15 token confusion, per-issuer key sets, JWT-16 refetch limits,
// introspection with caching, revocation and client suspension.

import FHIR
import Foundation
import GatewayCore
import GatewayCrypto
import JOSE
import Synchronization
import Testing

@testable import SMART

@Suite("Bearer token validation") struct AuthTokenValidatorTests {
    static let partnerKey = try! PrivateKey.generateEC(.p256)
    static let partnerURL = "https://idp.partner.example/jwks.json"
    static let partner = ExternalIssuer(
        issuer: "https://idp.partner.example", jwksURL: partnerURL, algorithms: [.es256],
        audience: "https://gw.example:8443/fhir")

    struct Fixture {
        let issuer = AuthFixture.issuer()
        let registry = RegistryBox()
        let fetcher = FakeFetcher(
            body: AuthFixture.jwks([(AuthTokenValidatorTests.partnerKey, "partner-ec-1", .es256)]))
        let revoked = RevokedSet()

        func validator(
            introspector: (any Introspector)? = nil, partner: ExternalIssuer = AuthTokenValidatorTests.partner
        ) -> TokenValidator {
            let registry = self.registry
            return TokenValidator(
                ownIssuer: issuer, registry: { registry.value.withLock { $0 } },
                externalIssuers: [partner],
                jwksCache: JWKSCache(fetcher: fetcher), introspector: introspector, revocation: revoked)
        }

        func ownToken(scopes: [String] = ["system/MedicationDispense.rs"], extra: [(String, JSONValue)] = []) -> String
        {
            try! issuer.issue(clientID: "app-1", scopes: scopes, now: AuthFixture.now, extraClaims: extra).accessToken
        }
    }

    final class RegistryBox: Sendable {
        let value = Mutex(ClientRegistry([AuthFixture.client()]))
    }

    final class RevokedSet: RevocationList {
        let ids = Mutex<Set<String>>([])
        func isRevoked(jti: String?, clientID: String) -> Bool {
            ids.withLock { $0.contains(jti ?? "") || $0.contains(clientID) }
        }
    }

    static func partnerToken(
        kid: String = "partner-ec-1", typ: String = "at+jwt", aud: String = "https://gw.example:8443/fhir",
        client: String = "app-7", scope: String = "patient/MedicationDispense.rs"
    ) -> String {
        let header = #"{"alg":"ES256","typ":"\#(typ)","kid":"\#(kid)"}"#
        let claims =
            #"{"iss":"https://idp.partner.example","aud":"\#(aud)","sub":"\#(client)","client_id":"\#(client)","#
            + #""patient":"pt-alice","scope":"\#(scope)","iat":1800000000,"exp":1800000300}"#
        let input = Base64URL.encode(header) + "." + Base64URL.encode(claims)
        return input + "." + Base64URL.encode(try! partnerKey.sign(Array(input.utf8), scheme: .ecdsa(.sha256)))
    }

    @Test("An own token becomes a Principal with the registry entry")
    func ownToken() throws {
        let fixture = Fixture()
        let principal = try fixture.validator().validate(
            authorization: "Bearer " + fixture.ownToken(), now: AuthFixture.now
        ).get()
        #expect(principal.clientID == "app-1" && principal.issuer == "https://gw.example:8443")
        #expect(principal.scopes == ["system/MedicationDispense.rs"] && principal.patient == nil)
        #expect(principal.client?.id == "app-1" && principal.expiresAt == AuthFixture.now + 300)
        #expect(
            try fixture.validator().validate(authorization: "bearer " + fixture.ownToken(), now: AuthFixture.now).get()
                .clientID == "app-1")
    }

    @Test("Missing credentials get a challenge without an error code; bad ones get invalid_token")
    func challenges() {
        let validator = Fixture().validator()
        for header in [nil, "Basic YTpi", "Bearer"] as [String?] {
            guard case .failure(let error) = validator.validate(authorization: header, now: AuthFixture.now) else {
                Issue.record("accepted")
                continue
            }
            #expect(error.status == 401 && error.bearerChallenge?.count == 1)
        }
        for header in ["Bearer  abc", "Bearer a b", "Bearer abc==x", "Bearer " + String(repeating: "a", count: 9000)] {
            guard case .failure(let error) = validator.validate(authorization: header, now: AuthFixture.now) else {
                Issue.record("accepted")
                continue
            }
            #expect(error.bearerChallenge?.contains { $0 == ("error", "invalid_token") } == true)
        }
    }

    @Test("Own tokens expire at exp exactly (JWT-09) and are refused after expiry even when cached")
    func expiry() {
        let fixture = Fixture()
        let validator = fixture.validator()
        let header = "Bearer " + fixture.ownToken()
        #expect((try? validator.validate(authorization: header, now: AuthFixture.now).get()) != nil)
        #expect(
            validator.validate(authorization: header, now: AuthFixture.now + 300) == .failure(BearerError(.expired, ""))
        )
    }

    @Test("JWT-15: a client assertion signed by a trusted key is not an access token")
    func assertionIsNotAccessToken() throws {
        let fixture = Fixture()
        let assertion = try ClientAssertion.make(
            clientID: "https://gw.example:8443", tokenURL: AuthFixture.tokenURL, key: AuthFixture.gatewayKey.privateKey,
            kid: "gw-es-1", algorithm: .es256, now: AuthFixture.now)
        #expect(throws: BearerError.self) {
            try fixture.validator().validate(authorization: "Bearer " + assertion, now: AuthFixture.now).get()
        }
        let wrongType = try AuthFixture.gatewayKey.sign(
            claims: JSONBuild.object([
                ("iss", .string("https://gw.example:8443")), ("aud", .string("https://gw.example:8443/fhir")),
                ("sub", .string("app-1")), ("client_id", .string("app-1")), ("exp", .number("1800000100")),
                ("jti", .string("j")),
            ]), type: "JWT")
        #expect(throws: BearerError.self) {
            try fixture.validator().validate(authorization: "Bearer " + wrongType, now: AuthFixture.now).get()
        }
    }

    @Test("Partner tokens verify only with the partner's keys; the gateway key cannot sign as the partner")
    func perIssuerKeys() throws {
        let fixture = Fixture()
        let validator = fixture.validator()
        let principal = AuthFixture.await { done in
            validator.validate(authorization: "Bearer " + Self.partnerToken(), now: AuthFixture.now, completion: done)
        }
        // The partner's clients are its own namespace, never a registration of this gateway.
        #expect((try? principal?.get())?.clientID == "https://idp.partner.example#app-7")
        #expect((try? principal?.get())?.patient == "pt-alice")
        #expect((try? principal?.get())?.client == nil)
        let forged = try AuthFixture.gatewayKey.sign(
            claims: JSONBuild.object([
                ("iss", .string("https://idp.partner.example")), ("aud", .string("https://gw.example:8443/fhir")),
                ("sub", .string("app-7")), ("exp", .number("1800000100")),
            ]), type: "at+jwt")
        #expect(throws: BearerError.self) {
            try validator.validate(authorization: "Bearer " + forged, now: AuthFixture.now).get()
        }
        #expect(throws: BearerError.self) {
            try validator.validate(authorization: "Bearer " + Self.partnerToken(typ: "JWT"), now: AuthFixture.now).get()
        }
    }

    @Test("JWT-16: random kids cause at most one refetch per cooldown and do not evict good keys")
    func unknownKidRateLimit() {
        let fixture = Fixture()
        let validator = fixture.validator()
        _ = AuthFixture.await { done in
            validator.validate(authorization: "Bearer " + Self.partnerToken(), now: AuthFixture.now, completion: done)
        }
        #expect(fixture.fetcher.count == 1)
        for n in 0..<500 {
            let now = AuthFixture.now + Double(n) / 100  // 500 requests in 5 s
            let junk = AuthFixture.await { done in
                validator.validate(
                    authorization: "Bearer " + Self.partnerToken(kid: "rnd-\(n)"), now: now, completion: done)
            }
            #expect((try? junk?.get()) == nil)
            if n % 50 == 0 {
                let good = AuthFixture.await { done in
                    validator.validate(authorization: "Bearer " + Self.partnerToken(), now: now, completion: done)
                }
                #expect((try? good?.get()) != nil)
            }
        }
        #expect(fixture.fetcher.count == 1)
    }

    @Test("Opaque tokens are introspected once and cached; inactive answers are refused")
    func introspection() throws {
        final class Fake: Introspector {
            let calls = Mutex(0)
            func introspect(token: String, completion: @escaping @Sendable (Result<JSONObject, any Error>) -> Void) {
                calls.withLock { $0 += 1 }
                let active = token == "opaque-good"
                let text =
                    active
                    ? #"{"active":true,"client_id":"ext-1","scope":"system/Patient.rs","exp":1800000100,"iss":"https://as.example"}"#
                    : #"{"active":false}"#
                completion(.success(try! JSONValue.parse(Array(text.utf8)).objectValue!))
            }
        }
        let fake = Fake()
        let validator = Fixture().validator(introspector: fake)
        for _ in 0..<3 {
            let result = AuthFixture.await { done in
                validator.validate(authorization: "Bearer opaque-good", now: AuthFixture.now, completion: done)
            }
            #expect((try? result?.get())?.clientID == "https://as.example#ext-1")
        }
        #expect(fake.calls.withLock { $0 } == 1)
        let bad = AuthFixture.await { done in
            validator.validate(authorization: "Bearer opaque-bad", now: AuthFixture.now, completion: done)
        }
        #expect((try? bad?.get()) == nil)
    }

    @Test("Revocation and client suspension apply to cached tokens")
    func revocation() throws {
        let fixture = Fixture()
        let validator = fixture.validator()
        let token = fixture.ownToken()
        let principal = try validator.validate(authorization: "Bearer " + token, now: AuthFixture.now).get()
        #expect(validator.cachedTokenCount == 1)
        fixture.revoked.ids.withLock { _ = $0.insert(principal.tokenID ?? "") }
        #expect(
            validator.validate(authorization: "Bearer " + token, now: AuthFixture.now)
                == .failure(BearerError(.revoked, "")))
        let other = fixture.ownToken()
        _ = try validator.validate(authorization: "Bearer " + other, now: AuthFixture.now).get()
        fixture.registry.value.withLock { $0 = ClientRegistry([AuthFixture.client(status: .suspended)]) }
        #expect(
            validator.validate(authorization: "Bearer " + other, now: AuthFixture.now)
                == .failure(BearerError(.revoked, "")))
    }

    @Test(
        "A patient claim that is not a plain FHIR id leaves a valid token with an unusable patient context (SCP-04)",
        arguments: [
            JSONValue.string(""), .null, .array([.string("pt-alice"), .string("pt-bob")]), .string("pt-alice "),
            .string("Patient/pt-alice"), .number("7"),
        ])
    func patientClaim(patient: JSONValue) throws {
        let fixture = Fixture()
        let token = fixture.ownToken(extra: [("patient", patient)])
        let principal = try fixture.validator().validate(authorization: "Bearer " + token, now: AuthFixture.now).get()
        #expect(principal.patient == Principal.unusablePatientContext)
        #expect(!FHIRSyntax.isValidID(Principal.unusablePatientContext))
    }

    @Test("A partner token naming a registered client id is not that client; a `clients` binding is, with its scopes")
    func externalNamespaces() throws {
        let fixture = Fixture()
        let token = Self.partnerToken(client: "app-1", scope: "system/MedicationDispense.rs system/Patient.rs")
        let unbound = AuthFixture.await { done in
            fixture.validator().validate(authorization: "Bearer " + token, now: AuthFixture.now, completion: done)
        }
        let stranger = try #require(try unbound?.get())
        #expect(stranger.clientID == "https://idp.partner.example#app-1" && stranger.client == nil)

        var bound = Self.partner
        bound.clients = ["app-1": "app-1"]
        let boundValidator = fixture.validator(partner: bound)
        let result = AuthFixture.await { done in
            boundValidator.validate(authorization: "Bearer " + token, now: AuthFixture.now, completion: done)
        }
        let principal = try #require(try result?.get())
        #expect(principal.clientID == "app-1" && principal.client?.id == "app-1")
        // Cut to the registration (system/MedicationDispense.rs only).
        #expect(principal.scopes == ["system/MedicationDispense.rs"])
        // Narrowing the registration narrows the cached bound token at once.
        fixture.registry.value.withLock { $0 = ClientRegistry([AuthFixture.client(scopes: ["system/Patient.rs"])]) }
        let narrowed = try boundValidator.validate(authorization: "Bearer " + token, now: AuthFixture.now).get()
        #expect(narrowed.scopes.isEmpty)
        // Suspending the registration applies to the bound partner token too, cached or not.
        fixture.registry.value.withLock { $0 = ClientRegistry([AuthFixture.client(status: .suspended)]) }
        #expect(
            boundValidator.validate(authorization: "Bearer " + token, now: AuthFixture.now)
                == .failure(BearerError(.revoked, "")))
    }

    @Test("Rotation keeps the previous key valid for its tokens and publishes both")
    func rotation() throws {
        let fixture = Fixture()
        let old = fixture.ownToken()
        let newKey = try SigningKey(keyID: "gw-es-2", algorithm: .es256, privateKey: PrivateKey.generateEC(.p256))
        try fixture.issuer.rotate(to: newKey, now: AuthFixture.now)
        let validator = fixture.validator()
        #expect(
            try validator.validate(authorization: "Bearer " + old, now: AuthFixture.now + 10).get().clientID == "app-1")
        #expect(
            try validator.validate(authorization: "Bearer " + fixture.ownToken(), now: AuthFixture.now + 10).get()
                .clientID == "app-1")
        let kids = fixture.issuer.jwks(now: AuthFixture.now)["keys"]?.arrayValue?.compactMap { $0["kid"]?.stringValue }
        #expect(kids == ["gw-es-2", "gw-es-1"])
        #expect(fixture.issuer.jwks(now: AuthFixture.now + 400)["keys"]?.arrayValue?.count == 1)
    }
}

extension Result: @retroactive Equatable where Success == Principal, Failure == BearerError {}
