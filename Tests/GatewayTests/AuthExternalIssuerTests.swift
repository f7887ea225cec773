// Tokens of a configured external issuer (issue #4 item 5): its JWKS is fetched over HTTPS from a recorder
// behind a private CA named by `external_issuers[].ca`, with the issuer's own algorithm allow-list; the
// psychic-signature (JWT-03) and kid-flood (JWT-16) cases run against it.

import Foundation
import GatewayCore
import GatewayCrypto
import GatewayTesting
import JOSE
import Testing

@Suite("External issuer tokens, JWKS over HTTPS (JWT-03, JWT-16)", .serialized)
struct AuthExternalIssuerTests {
    let setup = AuthGateway.setup
    var gw: GatewayHarness { setup.harness }

    static let searchPath = "/fhir/MedicationDispense?patient=pt-alice"

    func partnerClaims(
        issuer: String = AuthGateway.partnerIssuer, audience: String? = nil, client: String = "partner-app",
        scope: String = "system/MedicationDispense.rs", extra: [(String, String)] = []
    ) -> String {
        let now = Forge.now
        return Forge.object([
            ("iss", Forge.quoted(issuer)), ("aud", Forge.quoted(audience ?? gw.fhirBase)),
            ("sub", Forge.quoted(client)),
            ("client_id", Forge.quoted(client)), ("scope", Forge.quoted(scope)), ("iat", String(now)),
            ("exp", String(now + 240)), ("jti", Forge.quoted(RandomID.uuid())),
        ] + extra)
    }

    func partnerHeader(alg: String = "ES256", kid: String = AuthGateway.partnerKid) -> String {
        Forge.object([("alg", Forge.quoted(alg)), ("kid", Forge.quoted(kid)), ("typ", "\"at+jwt\"")])
    }

    /// A valid partner token (T_ext).
    func partnerToken() throws -> String {
        try Forge.signed(header: partnerHeader(), claims: partnerClaims(), key: setup.partnerKey, algorithm: .es256)
    }

    /// A valid partner token with other claims.
    func partnerToken(client: String, scope: String, extra: [(String, String)] = []) throws -> String {
        try Forge.signed(
            header: partnerHeader(), claims: partnerClaims(client: client, scope: scope, extra: extra),
            key: setup.partnerKey, algorithm: .es256)
    }

    /// Makes sure the gateway holds the partner's keys: a partner request until one is answered 200
    /// (bounded). On two busy cores the first fetch (a curl child) can miss its deadline, and a test that
    /// needs the keys cached must not depend on which suite ran first.
    func warmPartnerKeys() throws {
        for _ in 0..<20 {
            if try gw.get(Self.searchPath, bearer: partnerToken()).0.status == 200 { return }
            Thread.sleep(forTimeInterval: 0.25)
        }
        Issue.record("the gateway never accepted a partner token: JWKS fetch keeps failing")
    }

    func jwksFetches() throws -> Int {
        try setup.jwksServer.requests().filter { $0.target == "/jwks.json" }.count
    }

    @Test("a partner token is accepted after its JWKS was fetched over TLS from the configured URL only")
    func partnerTokenAccepted() throws {
        let (response, seen) = try gw.get(Self.searchPath, bearer: partnerToken())
        #expect(response.status == 200)
        #expect(seen.count == 1)
        let fetches = try setup.jwksServer.requests().filter { $0.target == "/jwks.json" }
        #expect(!fetches.isEmpty)
        // The recorder's data port speaks only TLS: a recorded request means the private CA was trusted.
        #expect(fetches.allSatisfy { $0.method == "GET" && $0.header("Authorization") == nil })
    }

    @Test("a partner token naming a registered client (app-1) gets none of app-1's rights: 403, not forwarded")
    func partnerCannotActAsRegisteredClient() throws {
        try warmPartnerKeys()
        let asApp1 = try partnerToken(client: "app-1", scope: "system/MedicationDispense.rs")
        let (response, seen) = try gw.get(Self.searchPath, bearer: asApp1)
        #expect(response.status == 403, "\(response.text)")
        #expect(response.json?["resourceType"] == "OperationOutcome")
        #expect(seen.isEmpty, "the upstream saw a partner token acting as app-1")
        // The principal is the partner's own `app-1`, in the partner's namespace.
        let introspection = AuthIntrospectionTests()
        let described = try introspection.introspect(asApp1, caller: introspection.callerToken())
        #expect(described.json?["active"] == .bool(true))
        #expect(described.json?["client_id"]?.stringValue == AuthGateway.partnerIssuer + "#app-1")
        // Control: app-1's own token, same request, is forwarded.
        let own = try gw.token(client: "app-1", scopes: ["system/MedicationDispense.rs"])
        let (ownResponse, ownSeen) = try gw.get(Self.searchPath, bearer: own)
        #expect(ownResponse.status == 200)
        #expect(ownSeen.count == 1)
    }

    @Test("a partner client bound by `clients:` gets at most its registration's scopes")
    func boundClientKeepsRegisteredScopes() throws {
        let token = try partnerToken(client: "partner-app", scope: "system/MedicationDispense.rs system/Patient.rs")
        let (allowed, forwarded) = try gw.get(Self.searchPath, bearer: token)
        #expect(allowed.status == 200, "\(allowed.text)")
        #expect(forwarded.count == 1)
        // system/Patient.rs is not registered for partner-app: cut, so the Patient search is refused.
        let (refused, seen) = try gw.get("/fhir/Patient?_id=pt-alice", bearer: token)
        #expect(refused.status == 403, "\(refused.text)")
        #expect(seen.isEmpty)
    }

    @Test("a partner key never validates another issuer's token, and the partner's allow-list binds alg")
    func keysStayWithTheirIssuer() throws {
        try warmPartnerKeys()
        let asGateway = try Forge.signed(
            header: partnerHeader(), claims: partnerClaims(issuer: gw.baseURL), key: setup.partnerKey,
            algorithm: .es256)
        let otherKey = try PrivateKey.generateEC(.p256)
        let forgedPartner = try Forge.signed(
            header: partnerHeader(), claims: partnerClaims(), key: otherKey, algorithm: .es256)
        let rsaKey = try PrivateKey.generateRSA(bits: 2048)
        let rsPartner = try Forge.signed(
            header: partnerHeader(alg: "RS256"), claims: partnerClaims(), key: rsaKey, algorithm: .rs256)
        let unknownIssuer = try Forge.signed(
            header: partnerHeader(), claims: partnerClaims(issuer: "https://idp.partner.example/"),
            key: setup.partnerKey, algorithm: .es256)
        let wrongAudience = try Forge.signed(
            header: partnerHeader(), claims: partnerClaims(audience: "https://idp.partner.example/api"),
            key: setup.partnerKey, algorithm: .es256)
        let cases = [
            ("partner key, gateway iss", asGateway), ("another key, partner kid", forgedPartner),
            ("RS256 for an ES256 issuer", rsPartner), ("issuer with trailing slash", unknownIssuer),
            ("partner token for another audience", wrongAudience),
        ]
        for (label, token) in cases {
            let (response, seen) = try gw.get(Self.searchPath, bearer: token)
            expectInvalidToken(response, seen, label)
        }
    }

    @Test("JWT-03: zero, r = s = n, r = 1 s = 0 and DER signatures are 401 for the partner and the gateway")
    func psychicSignatures() throws {
        try warmPartnerKeys()
        let order = try #require(Base64URL.decode(
            "_____wAAAAD__________7zm-q2nF56E87nKwvxjJVH_____AAAAAP__________vOb6racXnoTzucrC_GMlUQ"))
        let signatures: [(String, [UInt8])] = [
            ("64 zero bytes", [UInt8](repeating: 0, count: 64)), ("r = s = n", order),
            ("r = 1, s = 0", [UInt8](repeating: 0, count: 31) + [1] + [UInt8](repeating: 0, count: 32)),
            ("DER zeros", [0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00]),
        ]
        let ownHeader = Forge.object([
            ("alg", "\"ES256\""), ("kid", Forge.quoted(setup.gatewayKey.keyID)), ("typ", "\"at+jwt\""),
        ])
        let ownClaims = partnerClaims(issuer: gw.baseURL).replacingOccurrences(of: "partner-app", with: "app-1")
        for (label, signature) in signatures {
            let partner = Forge.token(header: partnerHeader(), claims: partnerClaims(), signature: signature)
            let (response, seen) = try gw.get(Self.searchPath, bearer: partner)
            expectInvalidToken(response, seen, "JWT-03 partner \(label)")
            let own = Forge.token(header: ownHeader, claims: ownClaims, signature: signature)
            let (ownResponse, ownSeen) = try gw.get(Self.searchPath, bearer: own)
            expectInvalidToken(ownResponse, ownSeen, "JWT-03 gateway \(label)")
        }
    }

    @Test("JWT-16: 500 random-kid tokens cause at most one JWKS refetch per cooldown; valid tokens keep working")
    func kidFlood() throws {
        try warmPartnerKeys()
        let before = try jwksFetches()
        let marker = "kid-flood-" + RandomID.hex128().prefix(8)
        var config = ""
        var expected: [String: Int] = [:]
        for n in 0..<510 {
            let id = "\(marker)-\(n)"
            let token: String
            if n % 51 == 50 {
                token = try partnerToken()
                expected[id] = 200
            } else {
                token = Forge.token(
                    header: partnerHeader(kid: "rnd-\(n)"), claims: partnerClaims(), signature: SecureRandom.bytes(64))
                expected[id] = 401
            }
            config += """
                url = "\(gw.baseURL)\(Self.searchPath)"
                cacert = "\(gw.pki.caCertificate)"
                http1.1
                silent
                header = "Authorization: Bearer \(token)"
                header = "X-Request-ID: \(id)"
                output = "/dev/null"
                write-out = "\(id) %{http_code}\\n"
                next

                """
        }
        let configFile = gw.directory + "/\(marker).curlrc"
        try config.write(toFile: configFile, atomically: true, encoding: .utf8)
        let started = Date()
        let output = try Subprocess.run("/usr/bin/curl", ["-q", "--config", configFile])
        let elapsed = Date().timeIntervalSince(started)
        var statuses: [String: Int] = [:]
        for line in output.stdoutText.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2 { statuses[String(parts[0])] = Int(parts[1]) }
        }
        #expect(statuses.count == expected.count, "curl answered \(statuses.count) of \(expected.count)")
        let wrong = expected.filter { statuses[$0.key] != $0.value }
        let example = wrong.first.map { "\($0.key) wanted \($0.value), got \(statuses[$0.key] ?? 0)" } ?? ""
        #expect(wrong.isEmpty, "\(wrong.count) requests got an unexpected status, e.g. \(example)")

        // One refetch per 10 s cooldown at most (JWKSCachePolicy.minRefetchInterval), however many kids.
        let refetches = try jwksFetches() - before
        #expect(refetches <= 1 + Int(elapsed / 10), "\(refetches) JWKS fetches in \(Int(elapsed)) s")
        let forwarded = try gw.upstreamRequests().compactMap { $0.header("X-Request-ID") }
            .filter { $0.hasPrefix(marker) }
        #expect(Set(forwarded) == Set(expected.filter { $0.value == 200 }.keys))
    }
}
