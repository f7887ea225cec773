// `POST /auth/token` through the running gateway (issue #4 item 3; attack cases TOK-01, 03, 05, 06): real
// signed client assertions from registered requesters' keys, and the happy path from assertion to token to
// an allowed FHIR request with its token-issuance audit record.

import Foundation
import GatewayCore
import GatewayCrypto
import GatewayTesting
import JOSE
import Testing

extension GatewayHarness {
    /// Posts a form to the token endpoint.
    func tokenRequest(_ form: [(String, String)]) throws -> ClientResponse {
        let body = form.map { "\($0.0)=\(Self.formEncode($0.1))" }.joined(separator: "&")
        return try request(
            "POST", "/auth/token", headers: [("Content-Type", "application/x-www-form-urlencoded")],
            body: Array(body.utf8))
    }

    /// The standard client-credentials form around `assertion`.
    static func tokenForm(assertion: String, scope: String) -> [(String, String)] {
        [
            ("grant_type", "client_credentials"), ("scope", scope),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", assertion),
        ]
    }

    static func formEncode(_ value: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return value.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    /// Asks for a token with a fresh assertion of `client`; returns the access token.
    func obtainToken(client: String, scope: String) throws -> String {
        let response = try tokenRequest(Self.tokenForm(assertion: assertion(for: client), scope: scope))
        guard response.status == 200, let token = response.json?["access_token"]?.stringValue else {
            throw GatewayError(status: 500, issueType: .exception, "token request failed: \(response.text)")
        }
        return token
    }
}

/// What a refused token request must look like (RFC 6749 §5.2).
func expectTokenError(
    _ response: ClientResponse, status: Int, error: String, _ label: String = "",
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(
        response.status == status, "\(label): status \(response.status) \(response.text)",
        sourceLocation: sourceLocation)
    #expect(response.json?["error"]?.stringValue == error, "\(label): \(response.text)", sourceLocation: sourceLocation)
    #expect(response.json?["access_token"] == nil, "\(label): a token was issued", sourceLocation: sourceLocation)
    #expect(response.header("Cache-Control") == "no-store", "\(label)", sourceLocation: sourceLocation)
    #expect(response.header("Content-Type")?.hasPrefix("application/json") == true, sourceLocation: sourceLocation)
}

@Suite("Token endpoint (TOK-01, TOK-03, TOK-05, TOK-06) and the full SMART backend-services flow")
struct AuthTokenEndpointTests {
    let setup = AuthGateway.setup
    var gw: GatewayHarness { setup.harness }
    static let scope = "system/MedicationDispense.rs"

    /// An assertion of app-1 with claims written here; `nil` removes a claim.
    func assertion(
        replacing replaced: [String: String?] = [:], client: String = "app-1", typ: String = "JWT"
    ) throws -> String {
        let requester = try #require(gw.requesters[client])
        let now = Forge.now
        var members: [(String, String)] = [
            ("iss", Forge.quoted(client)), ("sub", Forge.quoted(client)), ("aud", Forge.quoted(gw.tokenURL)),
            ("iat", String(now)), ("exp", String(now + 240)), ("jti", Forge.quoted(RandomID.uuid())),
        ]
        members = members.compactMap { name, value in
            guard let replacement = replaced[name] else { return (name, value) }
            return replacement.map { (name, $0) }
        }
        let header = Forge.object([
            ("alg", Forge.quoted(requester.algorithm.rawValue)), ("kid", Forge.quoted(requester.kid)),
            ("typ", Forge.quoted(typ)),
        ])
        return try Forge.signed(
            header: header, claims: Forge.object(members), key: requester.key, algorithm: requester.algorithm)
    }

    static func claims(of token: String) -> JSONValue? {
        let parts = token.split(separator: ".")
        guard parts.count == 3, let bytes = Base64URL.decode(String(parts[1])) else { return nil }
        return try? JSONValue.parse(bytes)
    }

    @Test("happy path: ES384 and RS384 assertions get tokens that open the FHIR API, and issuance is audited")
    func fullFlow() throws {
        for client in ["app-1", "app-rs"] {
            let response = try gw.tokenRequest(
                GatewayHarness.tokenForm(assertion: gw.assertion(for: client), scope: Self.scope))
            #expect(response.status == 200, "\(client): \(response.text)")
            #expect(response.header("Cache-Control") == "no-store")
            #expect(response.header("Pragma") == "no-cache")
            let json = try #require(response.json)
            #expect(json["token_type"]?.stringValue == "Bearer")
            #expect(json["scope"]?.stringValue == Self.scope)
            let expiresIn = try #require(json["expires_in"]?.intValue)
            #expect(expiresIn > 0 && expiresIn <= 300)
            let token = try #require(json["access_token"]?.stringValue)
            let claims = try #require(Self.claims(of: token))
            #expect(claims["iss"]?.stringValue == gw.baseURL)
            let audiences = claims["aud"]?.arrayValue?.compactMap(\.stringValue) ?? [claims["aud"]?.stringValue ?? ""]
            #expect(audiences == [gw.fhirBase])
            #expect(claims["client_id"]?.stringValue == client)
            let jti = try #require(claims["jti"]?.stringValue)

            let (fhir, seen) = try gw.get("/fhir/MedicationDispense?patient=pt-alice", bearer: token)
            #expect(fhir.status == 200)
            #expect(seen.count == 1)
            #expect(seen.first?.header("Authorization") == nil)

            let records = try auditLines().filter { $0.contains("urn:ietf:params:oauth:jti:" + jti) }
            #expect(records.contains { $0.contains("ITI-71") }, "\(client): no token-issuance AuditEvent for \(jti)")
            #expect(records.count >= 2, "\(client): the FHIR request's AuditEvent does not name the token")
        }
    }

    func auditLines() throws -> [String] {
        let directory = gw.auditDirectory
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".ndjson") }
        return try names.flatMap { name in
            try String(contentsOfFile: directory + "/" + name, encoding: .utf8).split(separator: "\n").map(String.init)
        }
    }

    @Test("TOK-01: a replayed assertion, a reused jti or a missing jti gets 400 invalid_client (SPEC-DIGEST §1.6)")
    func replay() throws {
        let first = try assertion()
        let form = GatewayHarness.tokenForm(assertion: first, scope: Self.scope)
        #expect(try gw.tokenRequest(form).status == 200)
        expectTokenError(try gw.tokenRequest(form), status: 400, error: "invalid_client", "TOK-01 (a) replay")

        let jti = try #require(Self.claims(of: first)?["jti"]?.stringValue)
        let reused = try assertion(replacing: ["jti": Forge.quoted(jti), "iat": String(Forge.now + 1)])
        expectTokenError(
            try gw.tokenRequest(GatewayHarness.tokenForm(assertion: reused, scope: Self.scope)), status: 400,
            error: "invalid_client", "TOK-01 (b) reused jti")
        let noJTI = try assertion(replacing: ["jti": nil])
        expectTokenError(
            try gw.tokenRequest(GatewayHarness.tokenForm(assertion: noJTI, scope: Self.scope)), status: 400,
            error: "invalid_client", "TOK-01 (c) no jti")
        // (d) replay after a restart: AuthReplayRestartTests (the real binary, killed and started again).
    }

    @Test("a suspended client gets 400 invalid_client and no token, also when suspended after a token")
    func suspendedClients() throws {
        let registered = try gw.tokenRequest(
            GatewayHarness.tokenForm(assertion: gw.assertion(for: "app-suspended"), scope: Self.scope))
        expectTokenError(registered, status: 400, error: "invalid_client", "registered as suspended")
        #expect(registered.json?["error_description"]?.stringValue == "client is suspended")

        // Live: a token first, then `clients suspend` and a reload; the next assertion and the old token fail.
        let token = try gw.obtainToken(client: "app-later", scope: Self.scope)
        let suspend = try Subprocess.run(
            GatewayHarness.repositoryRoot + "/.build/debug/pdmp-gateway",
            ["clients", "suspend", "app-later", "--config", gw.directory + "/gateway.yaml"])
        #expect(suspend.status == 0, "\(suspend.stderr)")
        let reload = try Subprocess.run("/usr/bin/curl", ["-s", "-X", "POST", gw.adminURL + "/admin/reload"])
        #expect(reload.status == 0)
        let after = try gw.tokenRequest(
            GatewayHarness.tokenForm(assertion: gw.assertion(for: "app-later"), scope: Self.scope))
        expectTokenError(after, status: 400, error: "invalid_client", "suspended after registration")
        let (fhir, seen) = try gw.get("/fhir/MedicationDispense?patient=pt-alice", bearer: token)
        expectInvalidToken(fhir, seen, "token of a client suspended since")
    }

    @Test("TOK-03: an assertion aud other than exactly the token URL gets invalid_client")
    func audienceInjection() throws {
        let variants: [(String, String)] = [
            ("other host", "\"https://evil.example/auth/token\""),
            ("array", "[\(Forge.quoted(gw.tokenURL)),\"https://idp.partner.example/token\"]"),
            ("trailing slash", Forge.quoted(gw.tokenURL + "/")), ("FHIR base", Forge.quoted(gw.fhirBase)),
        ]
        for (label, aud) in variants {
            let response = try gw.tokenRequest(
                GatewayHarness.tokenForm(assertion: assertion(replacing: ["aud": aud]), scope: Self.scope))
            expectTokenError(response, status: 400, error: "invalid_client", "TOK-03 \(label)")
        }
    }

    @Test("TOK-05: requested scopes are cut to the registered ones; nothing registered is invalid_scope")
    func scopeEscalation() throws {
        let asked = "system/*.cruds system/MedicationDispense.rs user/*.* patient/Patient.r launch/patient"
        let response = try gw.tokenRequest(GatewayHarness.tokenForm(assertion: assertion(), scope: asked))
        #expect(response.status == 200)
        #expect(response.json?["scope"]?.stringValue == Self.scope)
        let token = try #require(response.json?["access_token"]?.stringValue)
        #expect(Self.claims(of: token)?["scope"]?.stringValue == Self.scope)

        let (followUp, seen) = try gw.get("/fhir/Patient?_id=pt-alice", bearer: token)
        #expect(followUp.status == 403)
        #expect(followUp.json?["resourceType"] == "OperationOutcome")
        #expect(seen.isEmpty)

        let none = try gw.tokenRequest(
            GatewayHarness.tokenForm(assertion: assertion(), scope: "system/Patient.rs user/*.*"))
        expectTokenError(none, status: 400, error: "invalid_scope", "TOK-05 nothing registered")
    }

    @Test("TOK-06: long, timeless or future assertions, wrong types and algorithms get no token")
    func assertionShape() throws {
        let requester = try #require(gw.requesters["app-1"])
        let now = Forge.now
        let plainClaims = Forge.object([
            ("iss", "\"app-1\""), ("sub", "\"app-1\""), ("aud", Forge.quoted(gw.tokenURL)), ("iat", String(now)),
            ("exp", String(now + 240)), ("jti", Forge.quoted(RandomID.uuid())),
        ])
        let jwkText = String(
            decoding: try SigningKey(keyID: requester.kid, algorithm: requester.algorithm, privateKey: requester.key)
                .publicJWK().serialized(),
            as: UTF8.self)
        let hmacAssertion = Forge.hmac(
            header: Forge.object([("alg", "\"HS256\""), ("kid", Forge.quoted(requester.kid))]), claims: plainClaims,
            key: Array(jwkText.utf8))
        let noneAssertion = Forge.b64(Forge.object([("alg", "\"none\""), ("kid", Forge.quoted(requester.kid))]))
            + "." + Forge.b64(plainClaims) + "."
        let invalidClient: [(String, String)] = [
            ("exp a day ahead", try assertion(replacing: ["exp": String(now + 86400)])),
            ("exp absent", try assertion(replacing: ["exp": nil])),
            ("iat ten minutes ahead", try assertion(replacing: ["iat": String(now + 600)])),
            ("HS256 keyed with the public JWK", hmacAssertion), ("alg none", noneAssertion),
            ("typ at+jwt", try assertion(typ: "at+jwt")),
        ]
        for (label, text) in invalidClient {
            let response = try gw.tokenRequest(GatewayHarness.tokenForm(assertion: text, scope: Self.scope))
            expectTokenError(response, status: 400, error: "invalid_client", "TOK-06 \(label)")
        }

        var saml = GatewayHarness.tokenForm(assertion: try assertion(), scope: Self.scope)
        saml[2].1 = "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"
        expectTokenError(try gw.tokenRequest(saml), status: 400, error: "invalid_request", "TOK-06 (d) saml2 type")

        let password = [("grant_type", "password"), ("username", "x"), ("password", "y")]
        expectTokenError(try gw.tokenRequest(password), status: 400, error: "unsupported_grant_type", "TOK-06 (e)")

        let twice = GatewayHarness.tokenForm(assertion: try assertion(), scope: Self.scope)
            + [("client_assertion", try assertion())]
        expectTokenError(try gw.tokenRequest(twice), status: 400, error: "invalid_client", "TOK-06 (h) twice")

        let json = try gw.request(
            "POST", "/auth/token", headers: [("Content-Type", "application/json")], body: Array("{}".utf8))
        expectTokenError(json, status: 400, error: "invalid_request", "not a form")
    }
}
