// Bearer-token attacks through the running gateway (issue #4; attack cases JWT-01 … JWT-15): hostile
// tokens are built here with the JOSE and GatewayCrypto APIs, sent with curl over TLS, and every refusal
// must be 401 + `WWW-Authenticate: Bearer … error="invalid_token"` + an OperationOutcome, with nothing
// reaching the upstream. Each suite also proves its baseline token is accepted, so that a refusal is
// caused by the one thing the case changes.

import Foundation
import Gateway
import GatewayCore
import GatewayCrypto
import GatewayTesting
import JOSE
import Testing

/// One gateway for the Auth suites: registered requesters, a trusted external issuer whose JWKS is served
/// over TLS by a recorder behind its own CA (`ca:` in config), and the recording upstream.
enum AuthGateway {
    static let npi = "1234567893"
    static let partnerIssuer = "https://idp.partner.example"
    static let partnerKid = "partner-ec-1"

    struct Setup {
        let harness: GatewayHarness
        let jwksServer: UpstreamRecorder
        let jwksPKI: TestPKI
        let partnerKey: PrivateKey
        let gatewayKey: SigningKey
        var jwksURL: String { "https://127.0.0.1:\(jwksServer.port)/jwks.json" }
    }

    static let setup: Setup = {
        do {
            return try start()
        } catch {
            fatalError("auth test gateway did not start: \(error)")
        }
    }()

    static var harness: GatewayHarness { setup.harness }

    static func start() throws -> Setup {
        let jwksPKI = try TestPKI.make(caName: "partner IdP test CA")
        let server = try UpstreamRecorder(
            repositoryRoot: GatewayHarness.repositoryRoot,
            tlsCertificate: (jwksPKI.serverCertificate, jwksPKI.serverKey))
        let partnerKey = try PrivateKey.generateEC(.p256)
        let partnerJWK = try SigningKey(keyID: partnerKid, algorithm: .es256, privateKey: partnerKey).publicJWK()
        try server.respond([
            "method": "GET", "path": "/jwks.json", "status": 200,
            "headers": ["Content-Type": "application/json"], "body": ["keys": [partnerJWK]],
        ])
        let jwksURL = "https://127.0.0.1:\(server.port)/jwks.json"
        let harness = try GatewayHarness(
            clients: [
                .init(id: "app-1", scopes: ["system/MedicationDispense.rs"], npis: [npi], roles: ["prescriber"]),
                .init(
                    id: "app-rs", scopes: ["system/MedicationDispense.rs"], npis: [npi], roles: ["prescriber"],
                    algorithm: .rs384),
                // Bound to the partner's `partner-app` by `clients:` below; no key of its own is used.
                .init(id: "partner-app", scopes: ["system/MedicationDispense.rs"], npis: [npi], roles: ["prescriber"]),
                .init(
                    id: "app-suspended", scopes: ["system/MedicationDispense.rs"], npis: [npi], status: "suspended"),
                // Suspended by a test while the gateway runs; no other test uses it.
                .init(id: "app-later", scopes: ["system/MedicationDispense.rs"], npis: [npi]),
                .init(
                    id: "resource-server", scopes: ["system/Patient.rs"], roles: ["token-introspection"]),
            ],
            authConfig: """
                external_issuers:
                  - issuer: \(partnerIssuer)
                    jwks_url: \(jwksURL)
                    algorithms: [ES256]
                    ca: \(jwksPKI.caCertificate)
                    clients:
                      partner-app: partner-app
                """)
        guard let gatewayKey = try KeyStore.load(directory: harness.directory + "/keys").first else {
            throw GatewayError(status: 500, issueType: .exception, "the harness wrote no signing key")
        }
        return Setup(
            harness: harness, jwksServer: server, jwksPKI: jwksPKI, partnerKey: partnerKey, gatewayKey: gatewayKey)
    }
}

/// Builds compact JWS text from literal header and claims JSON, so that tests can write what a strict
/// serializer never would (duplicate members, odd types).
enum Forge {
    static func b64(_ text: String) -> String { Base64URL.encode(text) }

    /// `header.claims.signature` with a given signature.
    static func token(header: String, claims: String, signature: [UInt8]) -> String {
        b64(header) + "." + b64(claims) + "." + Base64URL.encode(signature)
    }

    /// Signed with `key` under `algorithm`'s scheme, whatever the header says.
    static func signed(header: String, claims: String, key: PrivateKey, algorithm: JWSAlgorithm) throws -> String {
        let input = b64(header) + "." + b64(claims)
        let signature = try key.sign(Array(input.utf8), scheme: algorithm.scheme)
        return input + "." + Base64URL.encode(signature)
    }

    /// HMAC-SHA256 over the signing input (an "HS256" token).
    static func hmac(header: String, claims: String, key: [UInt8]) -> String {
        let input = b64(header) + "." + b64(claims)
        return input + "." + Base64URL.encode(HMAC.sha256(key: key, message: Array(input.utf8)))
    }

    /// A JSON object written member by member; values are raw JSON text.
    static func object(_ members: [(String, String)]) -> String {
        "{" + members.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }

    static func quoted(_ text: String) -> String {
        String(decoding: JSONValue.string(text).serialized(), as: UTF8.self)
    }

    static var now: Int { Int(Date().timeIntervalSince1970) }
}

/// What a refused bearer token must look like from the outside.
func expectInvalidToken(
    _ response: ClientResponse, _ seen: [UpstreamRecorder.Request], _ label: String = "",
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(response.status == 401, "\(label): status \(response.status)", sourceLocation: sourceLocation)
    let challenge = response.header("WWW-Authenticate") ?? ""
    #expect(
        challenge.hasPrefix("Bearer ") && challenge.contains("error=\"invalid_token\""),
        "\(label): challenge '\(challenge)'", sourceLocation: sourceLocation)
    #expect(response.json?["resourceType"] == "OperationOutcome", "\(label)", sourceLocation: sourceLocation)
    #expect(seen.isEmpty, "\(label): the upstream saw \(seen.count) request(s)", sourceLocation: sourceLocation)
}

@Suite("Bearer-token attacks on the gateway's own issuer (JWT-01, 02, 05, 06, 08, 09, 11, 12, 15)")
struct AuthBearerAttackTests {
    let setup = AuthGateway.setup
    var gw: GatewayHarness { setup.harness }
    var kid: String { setup.gatewayKey.keyID }

    static let searchPath = "/fhir/MedicationDispense?patient=pt-alice"

    /// The claims of a valid own token (T_sys-like: the registered scope, no patient), as members.
    func claims(
        replacing replaced: [String: String?] = [:], adding added: [(String, String)] = []
    ) -> String {
        let now = Forge.now
        var members: [(String, String)] = [
            ("iss", Forge.quoted(gw.baseURL)), ("aud", Forge.quoted(gw.fhirBase)), ("sub", "\"app-1\""),
            ("client_id", "\"app-1\""), ("scope", "\"system/MedicationDispense.rs\""), ("iat", String(now)),
            ("exp", String(now + 240)), ("jti", Forge.quoted(RandomID.uuid())),
        ]
        members = members.compactMap { name, value in
            guard let replacement = replaced[name] else { return (name, value) }
            return replacement.map { (name, $0) }
        }
        return Forge.object(members + added)
    }

    func header(alg: String = "ES256", typ: String? = "at+jwt", extra: [(String, String)] = []) -> String {
        var members = [("alg", Forge.quoted(alg)), ("kid", Forge.quoted(kid))]
        if let typ { members.append(("typ", Forge.quoted(typ))) }
        return Forge.object(members + extra)
    }

    func gatewaySigned(header: String, claims: String) throws -> String {
        try Forge.signed(header: header, claims: claims, key: setup.gatewayKey.privateKey, algorithm: .es256)
    }

    @Test("baseline: a token built here and signed with the gateway key is accepted and forwarded")
    func baseline() throws {
        let (response, seen) = try gw.get(Self.searchPath, bearer: gatewaySigned(header: header(), claims: claims()))
        #expect(response.status == 200)
        #expect(seen.count == 1)
    }

    @Test("JWT-01: alg none in any spelling, a junk signature or two segments is 401")
    func unsignedTokens() throws {
        let body = claims(replacing: ["scope": "\"system/*.*\""])
        var tokens: [(String, String)] = []
        for alg in ["none", "None", "NONE", "nOnE"] {
            let head = Forge.object([("alg", Forge.quoted(alg)), ("typ", "\"JWT\"")])
            tokens.append(("alg \(alg), empty signature", Forge.b64(head) + "." + Forge.b64(body) + "."))
            let random = Forge.token(header: head, claims: body, signature: SecureRandom.bytes(64))
            tokens.append(("alg \(alg), random signature", random))
        }
        tokens.append(("two segments", Forge.b64(header(alg: "none")) + "." + Forge.b64(body)))
        for (label, token) in tokens {
            let (response, seen) = try gw.get("/fhir/Patient/pt-alice", bearer: token)
            expectInvalidToken(response, seen, "JWT-01 \(label)")
        }
    }

    @Test("JWT-02: HS256 keyed with the gateway's public key in every encoding is 401")
    func hmacKeyConfusion() throws {
        let publicKey = try setup.gatewayKey.privateKey.publicKey()
        let pem = try publicKey.pem()
        let trimmedPEM = pem.hasSuffix("\n") ? String(pem.dropLast()) : pem
        let derBase64 = pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        let der = try #require(Data(base64Encoded: derBase64))
        let jwkText = String(decoding: try setup.gatewayKey.publicJWK().serialized(), as: UTF8.self)
        let keys: [(String, [UInt8])] = [
            ("SPKI PEM", Array(pem.utf8)), ("SPKI PEM without newline", Array(trimmedPEM.utf8)),
            ("SPKI DER", Array(der)), ("JWK JSON", Array(jwkText.utf8)),
        ]
        let body = claims(replacing: ["scope": "\"system/*.*\""])
        for (label, secret) in keys {
            let token = Forge.hmac(header: header(alg: "HS256"), claims: body, key: secret)
            let (response, seen) = try gw.get("/fhir/Patient/pt-bob", bearer: token)
            expectInvalidToken(response, seen, "JWT-02 \(label)")
        }
    }

    @Test("JWT-05: kid as a path, SQL or with a NUL is 401; a 64 KiB kid is 431; never 500")
    func hostileKeyIDs() throws {
        let body = claims()
        let dotDot = Forge.object([("alg", "\"HS256\""), ("typ", "\"JWT\""), ("kid", "\"../../../../../../dev/null\"")])
        let sql = Forge.object([("alg", "\"HS256\""), ("kid", Forge.quoted("x' UNION SELECT 'k1'-- "))])
        let nul = Forge.object([
            ("alg", "\"ES256\""), ("typ", "\"at+jwt\""), ("kid", Forge.quoted(kid + "\u{0}../../etc/passwd")),
        ])
        let long = Forge.object([
            ("alg", "\"ES256\""), ("typ", "\"at+jwt\""), ("kid", Forge.quoted(String(repeating: "k", count: 4000))),
        ])
        let cases: [(String, String)] = [
            ("path kid, HMAC with an empty key", Forge.hmac(header: dotDot, claims: body, key: [])),
            ("SQL kid, HMAC with k1", Forge.hmac(header: sql, claims: body, key: Array("k1".utf8))),
            ("kid with NUL, real signature", try gatewaySigned(header: nul, claims: body)),
            ("4000-byte kid, real signature", try gatewaySigned(header: long, claims: body)),
        ]
        for (label, token) in cases {
            let (response, seen) = try gw.get("/fhir/Patient/pt-bob", bearer: token)
            expectInvalidToken(response, seen, "JWT-05 \(label)")
        }
        // (d) 64 KiB: the header and token limits answer first (HDR-05 pins 431), before any parsing.
        let huge = Forge.object([("alg", "\"ES256\""), ("kid", Forge.quoted(String(repeating: "k", count: 64 * 1024)))])
        let (response, seen) = try gw.get("/fhir/Patient/pt-bob", bearer: try gatewaySigned(header: huge, claims: body))
        #expect(response.status == 431)
        #expect(seen.isEmpty)
    }

    @Test("JWT-06: jku, x5u and jwk in the header are never dereferenced or trusted")
    func headerKeyReferences() throws {
        let attacker = try UpstreamRecorder(repositoryRoot: GatewayHarness.repositoryRoot)
        defer { attacker.stop() }
        let attackerKey = try PrivateKey.generateRSA(bits: 2048)
        let attackerJWK = String(
            decoding: try SigningKey(keyID: kid, algorithm: .rs256, privateKey: attackerKey).publicJWK().serialized(),
            as: UTF8.self)
        let attackerJWKS = "http://127.0.0.1:\(attacker.port)/jwks.json"
        let extras: [(String, [(String, String)])] = [
            ("jku attacker", [("jku", Forge.quoted(attackerJWKS))]),
            ("jku metadata", [("jku", "\"http://169.254.169.254/latest/meta-data/\"")]),
            ("jku file", [("jku", "\"file:///etc/passwd\"")]),
            ("x5u", [("x5u", Forge.quoted("http://127.0.0.1:\(attacker.port)/fhir/Patient"))]),
            // The partner's JWKS server, at a path no configuration names: other suites share this gateway
            // and may fetch the configured `/jwks.json` at any time, so only this path tells a fetch the
            // token caused apart from a legitimate refresh.
            ("jku = partner JWKS server", [("jku", Forge.quoted(setup.jwksURL + "?via=jku"))]),
            ("embedded jwk", [("jwk", attackerJWK)]),
        ]
        for (label, extra) in extras {
            let head = header(alg: "RS256", extra: extra)
            let token = try Forge.signed(
                header: head, claims: claims(replacing: ["scope": "\"system/*.*\""]), key: attackerKey,
                algorithm: .rs256)
            let (response, seen) = try gw.get(Self.searchPath, bearer: token)
            expectInvalidToken(response, seen, "JWT-06 \(label)")
        }
        #expect(try attacker.requests().isEmpty, "the gateway fetched an attacker URL")
        let headerFetches = try setup.jwksServer.requests().filter { $0.target.contains("via=jku") }
        #expect(headerFetches.isEmpty, "a token header caused a JWKS fetch")
    }

    @Test("JWT-08: any crit header is 401, even with the real key")
    func criticalHeaders() throws {
        let ext = "\"https://gw.example/ext/step-up\""
        let variants: [(String, [(String, String)])] = [
            ("crit extension", [("crit", "[\(ext)]"), ("https://gw.example/ext/step-up", "true")]),
            ("empty crit", [("crit", "[]")]), ("string crit", [("crit", ext)]), ("null member", [("crit", "[null]")]),
            ("crit exp", [("crit", "[\"exp\"]")]), ("crit naming an absent member", [("crit", "[\"b64x\"]")]),
        ]
        for (label, extra) in variants {
            let token = try gatewaySigned(header: header(extra: extra), claims: claims())
            let (response, seen) = try gw.get(Self.searchPath, bearer: token)
            expectInvalidToken(response, seen, "JWT-08 \(label)")
        }
    }

    @Test("JWT-09: exp missing, mistyped, absurd, now or too far ahead is 401, never 500")
    func expiryClaims() throws {
        let now = Forge.now
        let variants: [(String, String?)] = [
            ("absent", nil), ("string 0", "\"0\""), ("string far", "\"9999999999\""), ("null", "null"),
            ("1e308", "1e308"), ("50-digit", "1" + String(repeating: "0", count: 50)), ("true", "true"),
            ("now", String(now)), ("now + 400 days", String(now + 400 * 86400)),
        ]
        for (label, value) in variants {
            let token = try gatewaySigned(header: header(), claims: claims(replacing: ["exp": value]))
            let (response, seen) = try gw.get(Self.searchPath, bearer: token)
            expectInvalidToken(response, seen, "JWT-09 exp \(label)")
        }
    }

    @Test("JWT-11: an aud array containing the FHIR base passes; every near miss is 401")
    func audiences() throws {
        let base = gw.fhirBase
        let accepted = try gatewaySigned(
            header: header(),
            claims: claims(replacing: ["aud": "[\"https://other-api.example\",\(Forge.quoted(base))]"]))
        let (ok, forwarded) = try gw.get(Self.searchPath, bearer: accepted)
        #expect(ok.status == 200)
        #expect(forwarded.count == 1)

        let upper = base.replacingOccurrences(of: "https://", with: "HTTPS://")
        let variants: [(String, String?)] = [
            ("other only", "[\"https://other-api.example\"]"), ("nested", "[[\(Forge.quoted(base))]]"), ("absent", nil),
            ("trailing slash", Forge.quoted(base + "/")), ("upper-case scheme", Forge.quoted(upper)),
            ("upper-case path", Forge.quoted(base.replacingOccurrences(of: "/fhir", with: "/FHIR"))), ("empty", "\"\""),
        ]
        for (label, value) in variants {
            let token = try gatewaySigned(header: header(), claims: claims(replacing: ["aud": value]))
            let (response, seen) = try gw.get(Self.searchPath, bearer: token)
            expectInvalidToken(response, seen, "JWT-11 aud \(label)")
        }
    }

    @Test("JWT-12: duplicate members in claims, header or a nested object are 401, never 500")
    func duplicateMembers() throws {
        let patientTwice = claims(adding: [("patient", "\"pt-alice\""), ("patient", "\"pt-bob\"")])
        let scopeTwice = claims(adding: [("scope", "\"system/*.cruds\"")])
        let nested = claims(adding: [("cnf", "{\"jkt\":\"a\",\"jkt\":\"b\"}")])
        let algTwice = Forge.object([
            ("alg", "\"ES256\""), ("alg", "\"none\""), ("kid", Forge.quoted(kid)), ("typ", "\"at+jwt\""),
        ])
        let cases: [(String, String)] = [
            ("patient twice", try gatewaySigned(header: header(), claims: patientTwice)),
            ("scope twice", try gatewaySigned(header: header(), claims: scopeTwice)),
            ("nested duplicate", try gatewaySigned(header: header(), claims: nested)),
            ("alg twice", try gatewaySigned(header: algTwice, claims: claims())),
        ]
        for (label, token) in cases {
            let (response, seen) = try gw.get(Self.searchPath, bearer: token)
            expectInvalidToken(response, seen, "JWT-12 \(label)")
        }
    }

    @Test("JWT-15: a client assertion, a partner id_token or a typ JWT token is not an access token")
    func wrongTokenTypes() throws {
        let now = Forge.now
        let idToken = try Forge.signed(
            header: Forge.object([
                ("alg", "\"ES256\""), ("kid", Forge.quoted(AuthGateway.partnerKid)), ("typ", "\"JWT\""),
            ]),
            claims: Forge.object([
                ("iss", Forge.quoted(AuthGateway.partnerIssuer)), ("aud", "\"partner-app\""),
                ("sub", "\"partner-app\""),
                ("iat", String(now)), ("exp", String(now + 240)), ("nonce", "\"n-1\""),
            ]),
            key: setup.partnerKey, algorithm: .es256)
        let cases: [(String, String)] = [
            ("client assertion", try gw.assertion(for: "app-1")),
            ("partner id_token", idToken),
            ("own token with typ JWT", try gatewaySigned(header: header(typ: "JWT"), claims: claims())),
            ("own token without typ", try gatewaySigned(header: header(typ: nil), claims: claims())),
        ]
        for (label, token) in cases {
            let (response, seen) = try gw.get("/fhir/MedicationDispense?patient=pt-alice", bearer: token)
            expectInvalidToken(response, seen, "JWT-15 \(label)")
        }
    }
}
