// Token endpoint (SPEC-DIGEST §1.6) with the TOK-* attack cases from shared/attack-cases.md §B. Keys are
// generated at test time; the clock is fixed.

import Foundation
import GatewayCore
import GatewayCrypto
import JOSE
import Synchronization
import Testing

@testable import SMART

/// Shared fixture for the Auth* suites.
enum AuthFixture {
    static let now = 1_800_000_000.0
    static let tokenURL = "https://gw.example:8443/auth/token"
    static let gatewayKey = try! SigningKey(
        keyID: "gw-es-1", algorithm: .es256, privateKey: PrivateKey.generateEC(.p256))
    static let clientKey = try! PrivateKey.generateEC(.p384)
    static let otherKey = try! PrivateKey.generateEC(.p384)
    static let clientRSA = try! PrivateKey.generateRSA(bits: 2048)

    static func jwks(_ entries: [(PrivateKey, String, JWSAlgorithm)]) -> JWKSet {
        let keys = entries.map { key, kid, alg in
            String(
                decoding: JWK.publicJSON(for: try! key.publicKey(), keyID: kid, algorithm: alg).serialized(),
                as: UTF8.self)
        }
        return try! JWKSet.parse(Array(#"{"keys":[\#(keys.joined(separator: ","))]}"#.utf8), strict: true)
    }

    static func client(
        _ id: String = "app-1", status: RegisteredClient.Status = .active,
        scopes: [String] = ["system/MedicationDispense.rs"],
        keys: ClientKeySource? = nil
    ) -> ClientRecord {
        let client = RegisteredClient(id: id, name: id, kind: .organization, allowedScopes: scopes, status: status)
        return ClientRecord(client: client, keys: keys ?? .inline(jwks([(clientKey, "app-1-key", .es384)])))
    }

    static func issuer() -> TokenIssuer {
        TokenIssuer(issuer: "https://gw.example:8443", audience: "https://gw.example:8443/fhir", activeKey: gatewayKey)
    }

    static func server(
        _ records: [ClientRecord] = [client()], replay: (any ReplayCache)? = nil, jwksCache: JWKSCache? = nil
    ) -> AuthorizationServer {
        AuthorizationServer(
            registry: ClientRegistry(records), issuer: issuer(),
            replayCache: replay ?? InMemoryReplayCache(clock: { now }), jwksCache: jwksCache)
    }

    static func claims(
        iss: String = "app-1", sub: String = "app-1", aud: String = "\"\(tokenURL)\"", exp: String = "1800000240",
        jti: String? = "f3b8c0de-0001", extra: String = ""
    ) -> String {
        let jtiMember = jti.map { #","jti":"\#($0)""# } ?? ""
        return #"{"iss":"\#(iss)","sub":"\#(sub)","aud":\#(aud),"exp":\#(exp)\#(jtiMember)\#(extra)}"#
    }

    static func assertion(
        header: String = #"{"alg":"ES384","kid":"app-1-key","typ":"JWT"}"#, claims: String = claims(),
        key: PrivateKey = clientKey, scheme: SignatureScheme = .ecdsa(.sha384)
    ) -> String {
        let input = Base64URL.encode(header) + "." + Base64URL.encode(claims)
        return input + "." + Base64URL.encode(try! key.sign(Array(input.utf8), scheme: scheme))
    }

    static func form(
        assertion: String = assertion(), scope: String = "system/MedicationDispense.rs",
        grantType: String = "client_credentials",
        assertionType: String = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    ) -> [String: [String]] {
        [
            "grant_type": [grantType], "scope": [scope], "client_assertion_type": [assertionType],
            "client_assertion": [assertion],
        ]
    }

    /// Runs a completion-style call whose completion may run synchronously, and returns its value.
    static func await<T: Sendable>(_ body: (@escaping @Sendable (T) -> Void) -> Void) -> T? {
        let box = Mutex<T?>(nil)
        body { value in box.withLock { $0 = value } }
        return box.withLock { $0 }
    }
}

extension TokenEndpointResult {
    var error: String? { body["error"]?.stringValue }
    var hasToken: Bool { body["access_token"] != nil }
}

@Suite("Token endpoint") struct AuthServerTests {
    @Test("A valid ES384 assertion yields a short-lived at+jwt token for the FHIR audience")
    func success() throws {
        let result = AuthFixture.server().handleTokenRequest(
            form: AuthFixture.form(), tokenURL: AuthFixture.tokenURL, now: AuthFixture.now)
        #expect(result.status == 200)
        #expect(result.body["token_type"]?.stringValue == "Bearer")
        #expect(result.body["expires_in"]?.intValue == 300)
        #expect(result.body["scope"]?.stringValue == "system/MedicationDispense.rs")
        #expect(result.headers.contains { $0 == ("Cache-Control", "no-store") })
        #expect(result.headers.contains { $0 == ("Pragma", "no-cache") })
        let token = try #require(result.body["access_token"]?.stringValue)
        let jws = try CompactJWS.parse(token)
        let claims = try jws.claims()
        #expect(jws.type == "at+jwt" && jws.keyID == "gw-es-1")
        #expect(try claims.string("aud") == "https://gw.example:8443/fhir")
        #expect(try claims.string("sub") == "app-1" && claims.string("client_id") == "app-1")
        #expect(try claims.numericDate("exp") == AuthFixture.now + 300)
        guard case .issued(let clientID, let scopes, _) = result.outcome else {
            Issue.record("not issued")
            return
        }
        #expect(clientID == "app-1" && scopes == ["system/MedicationDispense.rs"])
    }

    @Test("An RS384 assertion from an RSA-registered client is accepted")
    func rs384() {
        let record = AuthFixture.client(keys: .inline(AuthFixture.jwks([(AuthFixture.clientRSA, "rsa-1", .rs384)])))
        let assertion = AuthFixture.assertion(
            header: #"{"alg":"RS384","kid":"rsa-1","typ":"JWT"}"#, key: AuthFixture.clientRSA,
            scheme: .rsaPKCS1v15(.sha384))
        let result = AuthFixture.server([record]).handleTokenRequest(
            form: AuthFixture.form(assertion: assertion), tokenURL: AuthFixture.tokenURL, now: AuthFixture.now)
        #expect(result.status == 200)
    }

    @Test("TOK-01: a replayed jti, a re-signed assertion reusing it, and a missing jti are invalid_client")
    func replay() {
        let server = AuthFixture.server()
        let first = server.handleTokenRequest(
            form: AuthFixture.form(), tokenURL: AuthFixture.tokenURL, now: AuthFixture.now)
        #expect(first.status == 200)
        let again = server.handleTokenRequest(
            form: AuthFixture.form(), tokenURL: AuthFixture.tokenURL, now: AuthFixture.now + 1)
        let resigned = AuthFixture.assertion(claims: AuthFixture.claims(extra: #","iat":1800000010"#))
        let second = server.handleTokenRequest(
            form: AuthFixture.form(assertion: resigned), tokenURL: AuthFixture.tokenURL, now: AuthFixture.now + 10)
        let noJTI = AuthFixture.assertion(claims: AuthFixture.claims(jti: nil))
        let third = server.handleTokenRequest(
            form: AuthFixture.form(assertion: noJTI), tokenURL: AuthFixture.tokenURL, now: AuthFixture.now)
        for result in [again, second, third] {
            #expect(result.status == 400 && result.error == "invalid_client" && !result.hasToken)
        }
    }

    @Test("The same jti from another client is not a replay (keyed on iss, jti)")
    func replayKeyedOnIssuer() {
        let other = AuthFixture.client(
            "app-2", keys: .inline(AuthFixture.jwks([(AuthFixture.otherKey, "app-2-key", .es384)])))
        let server = AuthFixture.server([AuthFixture.client(), other])
        let a = server.handleTokenRequest(
            form: AuthFixture.form(), tokenURL: AuthFixture.tokenURL, now: AuthFixture.now)
        let assertion = AuthFixture.assertion(
            header: #"{"alg":"ES384","kid":"app-2-key","typ":"JWT"}"#,
            claims: AuthFixture.claims(iss: "app-2", sub: "app-2"),
            key: AuthFixture.otherKey)
        let b = server.handleTokenRequest(
            form: AuthFixture.form(assertion: assertion), tokenURL: AuthFixture.tokenURL, now: AuthFixture.now)
        #expect(a.status == 200 && b.status == 200)
    }

    @Test(
        "TOK-03: any aud but exactly the token URL is invalid_client",
        arguments: [
            #""https://evil.example/auth/token""#,
            #"["https://gw.example:8443/auth/token","https://idp.partner.example/token"]"#,
            #""https://gw.example:8443/auth/token/""#, #""https://gw.example:8443/fhir""#,
            #"[["https://gw.example:8443/auth/token"]]"#,
        ])
    func audience(aud: String) {
        let assertion = AuthFixture.assertion(claims: AuthFixture.claims(aud: aud))
        let result = AuthFixture.server().handleTokenRequest(
            form: AuthFixture.form(assertion: assertion), tokenURL: AuthFixture.tokenURL, now: AuthFixture.now)
        #expect(result.status == 400 && result.error == "invalid_client" && !result.hasToken)
    }

    @Test("A one-element aud array naming the token URL is accepted")
    func singleElementAudience() {
        let assertion = AuthFixture.assertion(
            claims: AuthFixture.claims(aud: #"["https://gw.example:8443/auth/token"]"#))
        let result = AuthFixture.server().handleTokenRequest(
            form: AuthFixture.form(assertion: assertion), tokenURL: AuthFixture.tokenURL, now: AuthFixture.now)
        #expect(result.status == 200)
    }

    @Test("TOK-05: granted scope is exactly the registered intersection; nothing registered is invalid_scope")
    func scopeEscalation() {
        let scope = "system/*.cruds system/MedicationDispense.rs user/*.* patient/Patient.r launch/patient"
        let result = AuthFixture.server().handleTokenRequest(
            form: AuthFixture.form(scope: scope), tokenURL: AuthFixture.tokenURL, now: AuthFixture.now)
        #expect(result.status == 200 && result.body["scope"]?.stringValue == "system/MedicationDispense.rs")
        let none = AuthFixture.server().handleTokenRequest(
            form: AuthFixture.form(scope: "system/*.cud user/*.* patient/Patient.r"), tokenURL: AuthFixture.tokenURL,
            now: AuthFixture.now)
        #expect(none.status == 400 && none.error == "invalid_scope" && !none.hasToken)
    }

    @Test("TOK-06: lifetime, types, algorithms and duplicated assertions are refused with the pinned codes")
    func assertionRules() throws {
        let server = AuthFixture.server()
        func run(_ form: [String: [String]]) -> TokenEndpointResult {
            server.handleTokenRequest(form: form, tokenURL: AuthFixture.tokenURL, now: AuthFixture.now)
        }
        let longLived = AuthFixture.assertion(claims: AuthFixture.claims(exp: "1800086400"))
        let noExp = AuthFixture.assertion(
            claims: #"{"iss":"app-1","sub":"app-1","aud":"\#(AuthFixture.tokenURL)","jti":"x1"}"#)
        let futureIAT = AuthFixture.assertion(claims: AuthFixture.claims(jti: "x2", extra: #","iat":1800000600"#))
        let jwkText = JWK.publicJSON(for: try AuthFixture.clientKey.publicKey(), keyID: "app-1-key", algorithm: .es384)
            .serialized()
        let hsInput =
            Base64URL.encode(#"{"alg":"HS256","kid":"app-1-key"}"#) + "."
            + Base64URL.encode(AuthFixture.claims(jti: "x3"))
        let hs256 = hsInput + "." + Base64URL.encode(HMAC.sha256(key: jwkText, message: Array(hsInput.utf8)))
        let none =
            Base64URL.encode(#"{"alg":"none","kid":"app-1-key"}"#) + "."
            + Base64URL.encode(AuthFixture.claims(jti: "x4")) + "."
        for assertion in [longLived, noExp, futureIAT, hs256, none] {
            let result = run(AuthFixture.form(assertion: assertion))
            #expect(result.status == 400 && result.error == "invalid_client" && !result.hasToken)
        }
        let saml = run(AuthFixture.form(assertionType: "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"))
        #expect(saml.status == 400 && saml.error == "invalid_request")
        var password = AuthFixture.form(grantType: "password")
        password["username"] = ["x"]
        password["password"] = ["y"]
        #expect(run(password).status == 400 && run(password).error == "unsupported_grant_type")
        var twice = AuthFixture.form()
        twice["client_assertion"]?.append(AuthFixture.assertion(claims: AuthFixture.claims(jti: "x5")))
        #expect(run(twice).status == 400 && run(twice).error == "invalid_client")
        var scopeTwice = AuthFixture.form()
        scopeTwice["scope"]?.append("system/Patient.rs")
        #expect(run(scopeTwice).error == "invalid_request")
    }

    @Test(
        "Missing parameters are refused",
        arguments: ["grant_type", "client_assertion", "client_assertion_type", "scope"])
    func missing(name: String) {
        var form = AuthFixture.form()
        form[name] = nil
        let result = AuthFixture.server().handleTokenRequest(
            form: form, tokenURL: AuthFixture.tokenURL, now: AuthFixture.now)
        #expect(result.status >= 400 && !result.hasToken)
        #expect(result.error == (name.hasPrefix("client_assertion") ? "invalid_client" : "invalid_request"))
    }

    @Test("Client identity: iss must equal sub, be registered, active, and match a form client_id")
    func identity() {
        let cases: [([ClientRecord], String, [String]?)] = [
            ([AuthFixture.client()], AuthFixture.claims(sub: "app-2"), nil),
            ([AuthFixture.client()], AuthFixture.claims(iss: "app-9", sub: "app-9"), nil),
            ([AuthFixture.client(status: .suspended)], AuthFixture.claims(), nil),
            ([AuthFixture.client()], AuthFixture.claims(), ["app-2"]),
        ]
        for (records, claims, clientID) in cases {
            var form = AuthFixture.form(assertion: AuthFixture.assertion(claims: claims))
            form["client_id"] = clientID
            let result = AuthFixture.server(records).handleTokenRequest(
                form: form, tokenURL: AuthFixture.tokenURL, now: AuthFixture.now)
            #expect(result.status == 400 && result.error == "invalid_client")
        }
    }

    @Test("Keys: a wrong kid, another client's key, an at+jwt typ, or a jku not registered are refused")
    func keySelection() {
        let other = AuthFixture.client(
            "app-2", keys: .inline(AuthFixture.jwks([(AuthFixture.otherKey, "app-2-key", .es384)])))
        let server = AuthFixture.server([AuthFixture.client(), other])
        let assertions = [
            AuthFixture.assertion(header: #"{"alg":"ES384","kid":"nope","typ":"JWT"}"#),
            AuthFixture.assertion(header: #"{"alg":"ES384","kid":"app-2-key","typ":"JWT"}"#, key: AuthFixture.otherKey),
            AuthFixture.assertion(key: AuthFixture.otherKey),
            AuthFixture.assertion(header: #"{"alg":"ES384","kid":"app-1-key","typ":"at+jwt"}"#),
            AuthFixture.assertion(header: #"{"alg":"ES384","kid":"app-1-key","jku":"https://attacker.example/jwks"}"#),
            AuthFixture.assertion(header: #"{"alg":"ES384","typ":"JWT"}"#),
        ]
        for assertion in assertions {
            let result = server.handleTokenRequest(
                form: AuthFixture.form(assertion: assertion), tokenURL: AuthFixture.tokenURL, now: AuthFixture.now)
            #expect(result.status == 400 && result.error == "invalid_client")
        }
    }

    @Test("A replay store outage fails closed with 503")
    func replayUnavailable() {
        struct Down: ReplayCache {
            func claim(issuer: String, jti: String, expiresAt: Double) -> ReplayResult { .unavailable }
        }
        let result = AuthFixture.server(replay: Down()).handleTokenRequest(
            form: AuthFixture.form(), tokenURL: AuthFixture.tokenURL, now: AuthFixture.now)
        #expect(result.status == 503 && !result.hasToken)
        #expect(result.headers.contains { $0.0 == "Retry-After" })
    }

    @Test("A jwks_url client is served after one fetch; a matching jku is accepted and others are not")
    func jwksURL() {
        let fetcher = FakeFetcher(body: AuthFixture.jwks([(AuthFixture.clientKey, "app-1-key", .es384)]))
        let cache = JWKSCache(fetcher: fetcher)
        let record = AuthFixture.client(keys: .url("https://app-1.example/jwks.json"))
        let server = AuthFixture.server([record], jwksCache: cache)
        let withJKU = AuthFixture.assertion(
            header: #"{"alg":"ES384","kid":"app-1-key","typ":"JWT","jku":"https://app-1.example/jwks.json"}"#)
        let result = AuthFixture.await { done in
            server.handleTokenRequest(
                form: AuthFixture.form(assertion: withJKU), tokenURL: AuthFixture.tokenURL, now: AuthFixture.now,
                completion: done)
        }
        #expect(result?.status == 200)
        let second = AuthFixture.assertion(claims: AuthFixture.claims(jti: "j2"))
        let again = server.handleTokenRequest(
            form: AuthFixture.form(assertion: second), tokenURL: AuthFixture.tokenURL, now: AuthFixture.now)
        #expect(again.status == 200)
        #expect(fetcher.count == 1)
    }
}

/// A JWKS fetcher that answers at once and counts calls.
final class FakeFetcher: JWKSFetcher {
    private let state: Mutex<(count: Int, body: [UInt8])>

    init(body: JWKSet) {
        let keys = body.keys.map {
            JWK.publicJSON(for: $0.publicKey, keyID: $0.keyID ?? "", algorithm: $0.algorithm ?? .es384)
        }
        state = Mutex((0, JSONValue.object(JSONObject([("keys", .array(keys))])).serialized()))
    }

    var count: Int { state.withLock { $0.count } }

    func fetch(url: String, completion: @escaping @Sendable (Result<JWKSDocument, any Error>) -> Void) {
        let body = state.withLock { state in
            state.count += 1
            return state.body
        }
        completion(.success(JWKSDocument(body: body, maxAge: 300)))
    }
}
