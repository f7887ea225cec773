// `POST /auth/introspect` (RFC 7662) through the running gateway: the caller authenticates with a gateway
// token it obtained as a registered client, and only clients with the `token-introspection` role may ask.

import Foundation
import GatewayCore
import GatewayTesting
import JOSE
import Testing

@Suite("Token introspection endpoint (RFC 7662)")
struct AuthIntrospectionTests {
    let setup = AuthGateway.setup
    var gw: GatewayHarness { setup.harness }

    func introspect(_ token: String, caller: String?, requestID: String? = nil) throws -> ClientResponse {
        var headers = [("Content-Type", "application/x-www-form-urlencoded")]
        if let requestID { headers.append(("X-Request-ID", requestID)) }
        return try gw.request(
            "POST", "/auth/introspect", headers: headers,
            body: Array("token=\(GatewayHarness.formEncode(token))&token_type_hint=access_token".utf8), bearer: caller)
    }

    /// The AuditEvents whose X-Request-ID entity is `requestID`.
    func auditEvents(requestID: String) throws -> [JSONValue] {
        let directory = gw.auditDirectory
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".ndjson") }
        return try names.flatMap { name in
            try String(contentsOfFile: directory + "/" + name, encoding: .utf8).split(separator: "\n")
                .filter { $0.contains(requestID) }.compactMap { (try? JSONValue.parse(Array($0.utf8)))?["event"] }
        }
    }

    func callerToken() throws -> String {
        try gw.obtainToken(client: "resource-server", scope: "system/Patient.rs")
    }

    @Test("an active gateway token is described: active, scope, client_id, exp, iss, jti")
    func activeToken() throws {
        let token = try gw.obtainToken(client: "app-1", scope: "system/MedicationDispense.rs")
        let response = try introspect(token, caller: callerToken())
        #expect(response.status == 200, "\(response.text)")
        #expect(response.header("Cache-Control") == "no-store")
        let json = try #require(response.json)
        #expect(json["active"] == .bool(true))
        #expect(json["client_id"]?.stringValue == "app-1")
        #expect(json["scope"]?.stringValue == "system/MedicationDispense.rs")
        #expect(json["iss"]?.stringValue == gw.baseURL)
        #expect((json["exp"]?.doubleValue ?? 0) > Date().timeIntervalSince1970)
        let parts = token.split(separator: ".")
        let claims = try JSONValue.parse(try #require(Base64URL.decode(String(parts[1]))))
        #expect(json["jti"] == claims["jti"])
    }

    @Test("junk and expired tokens are just {\"active\": false}")
    func inactiveTokens() throws {
        let caller = try callerToken()
        let expired = try gw.token(
            client: "app-1", scopes: ["system/MedicationDispense.rs"], now: Date().timeIntervalSince1970 - 400)
        for token in ["not-a-token", "a.b.c", expired] {
            let response = try introspect(token, caller: caller)
            #expect(response.status == 200)
            #expect(response.text == "{\"active\":false}")
        }
    }

    @Test("an external issuer's token with cached keys is described with its issuer")
    func externalToken() throws {
        let tests = AuthExternalIssuerTests()
        let partner = try tests.partnerToken()
        _ = try gw.get(AuthExternalIssuerTests.searchPath, bearer: partner)  // keys cached
        let response = try introspect(partner, caller: callerToken())
        #expect(response.json?["active"] == .bool(true))
        #expect(response.json?["iss"]?.stringValue == AuthGateway.partnerIssuer)
        #expect(response.json?["client_id"]?.stringValue == "partner-app")
    }

    @Test("callers: none is 401 with a Bearer challenge, a bad token 401 invalid_token, no role 403")
    func callerAuthentication() throws {
        let token = try gw.obtainToken(client: "app-1", scope: "system/MedicationDispense.rs")
        let anonymous = try introspect(token, caller: nil)
        #expect(anonymous.status == 401)
        #expect(anonymous.header("WWW-Authenticate")?.hasPrefix("Bearer") == true)
        #expect(anonymous.json?["active"] == nil)

        let forged = try introspect(token, caller: token + "x")
        #expect(forged.status == 401)
        #expect(forged.header("WWW-Authenticate")?.contains("error=\"invalid_token\"") == true)

        let external = AuthExternalIssuerTests()
        try external.warmPartnerKeys()  // a 401 here would be "keys not fetched yet", not the 403 under test
        let partner = try introspect(token, caller: external.partnerToken())
        #expect(partner.status == 403, "an external issuer's token authenticated an introspection caller")

        let noRole = try introspect(token, caller: token)
        #expect(noRole.status == 403)
        #expect(noRole.json?["error"]?.stringValue == "insufficient_scope")
        #expect(noRole.json?["active"] == nil)
    }

    @Test("a 401 names the authentication the endpoint expects (RFC 7662 §2.1)")
    func unauthorizedSaysHow() throws {
        let token = try gw.obtainToken(client: "app-1", scope: "system/MedicationDispense.rs")
        for (label, caller) in [("no caller", nil), ("bad caller", token + "x")] as [(String, String?)] {
            let response = try introspect(token, caller: caller)
            #expect(response.status == 401, "\(label)")
            let description = response.json?["error_description"]?.stringValue ?? ""
            for expected in ["Authorization: Bearer", "/auth/token", "private_key_jwt", "token-introspection"] {
                #expect(description.contains(expected), "\(label): '\(description)' lacks \(expected)")
            }
            // RFC 6749 §5.2 / RFC 6750 §3: printable ASCII without quote or backslash.
            #expect(description.unicodeScalars.allSatisfy {
                $0.value >= 0x20 && $0.value < 0x7F && $0 != "\"" && $0 != "\\"
            })
        }
    }

    @Test("every introspection decision is audited: 200 with the token's jti, 401, 403 and 400")
    func audited() throws {
        let token = try gw.obtainToken(client: "app-1", scope: "system/MedicationDispense.rs")
        let jti = try #require(AuthTokenEndpointTests.claims(of: token)?["jti"]?.stringValue)
        let marker = "introspect-audit-" + RandomID.hex128().prefix(12)
        let cases: [(String, Int, () throws -> ClientResponse)] = [
            ("ok", 200, { try self.introspect(token, caller: self.callerToken(), requestID: marker + "-ok") }),
            ("anonymous", 401, { try self.introspect(token, caller: nil, requestID: marker + "-anonymous") }),
            ("no-role", 403, { try self.introspect(token, caller: token, requestID: marker + "-no-role") }),
        ]
        for (label, status, send) in cases {
            let response = try send()
            #expect(response.status == status, "\(label): \(response.text)")
            let events = try auditEvents(requestID: marker + "-" + label)
            #expect(events.count == 1, "\(label): \(events.count) AuditEvents")
            let event = try #require(events.first)
            #expect(event["subtype"]?.arrayValue?.first?["code"]?.stringValue == "ITI-102", "\(label)")
            #expect(event["outcome"]?.stringValue == (status == 200 ? "0" : "4"), "\(label)")
            let text = String(decoding: event.serialized(), as: UTF8.self)
            #expect(!text.contains(token), "\(label): the introspected token is in the audit record")
            if status == 200 { #expect(text.contains("urn:ietf:params:oauth:jti:" + jti), "\(label)") }
        }
        let bad = try gw.request(
            "POST", "/auth/introspect",
            headers: [("Content-Type", "application/json"), ("X-Request-ID", marker + "-400")],
            body: Array("{}".utf8), bearer: callerToken())
        #expect(bad.status == 400)
        #expect(try auditEvents(requestID: marker + "-400").count == 1)
    }

    @Test("GET is 405; a missing, repeated or non-form token parameter is 400")
    func requestShape() throws {
        let caller = try callerToken()
        let get = try gw.request("GET", "/auth/introspect?token=x", bearer: caller)
        #expect(get.status == 405, "\(get.status) \(get.text)")
        let repeated = try gw.request(
            "POST", "/auth/introspect", headers: [("Content-Type", "application/x-www-form-urlencoded")],
            body: Array("token=a&token=b".utf8), bearer: caller)
        #expect(repeated.status == 400)
        #expect(repeated.json?["error"]?.stringValue == "invalid_request")
        let json = try gw.request(
            "POST", "/auth/introspect", headers: [("Content-Type", "application/json")],
            body: Array("{\"token\":\"a\"}".utf8), bearer: caller)
        #expect(json.status == 400)
    }
}
