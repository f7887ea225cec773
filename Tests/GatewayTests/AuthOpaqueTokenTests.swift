// Opaque bearer tokens checked by RFC 7662 introspection against a configured authorization server
// (`external_issuers[].introspection_url` + `client_id`/`client_secret` + `ca`), served here by a TLS
// recorder behind its own CA. The gateway must authenticate with HTTP Basic, send the token in the form
// body (never the URL), and refuse when the answer is inactive.

import Foundation
import GatewayCore
import GatewayTesting
import Testing

@Suite("Opaque tokens via RFC 7662 introspection over HTTPS")
struct AuthOpaqueTokenTests {
    @Test("an active answer lets the request through; an inactive one is 401; the call is authenticated")
    func introspectedTokens() throws {
        let pki = try TestPKI.make(caName: "introspection AS test CA")
        defer { pki.remove() }
        let server = try UpstreamRecorder(
            repositoryRoot: GatewayHarness.repositoryRoot, tlsCertificate: (pki.serverCertificate, pki.serverKey))
        defer { server.stop() }
        // A policy that permits dispense searches by anyone authenticated: the sample policies only admit
        // registered clients, and introspected principals carry no registry entry.
        let policies = pki.directory + "/policies"
        try FileManager.default.createDirectory(atPath: policies, withIntermediateDirectories: true)
        try """
            description: Test policy for introspected tokens.
            rules:
              - name: dispense-searches
                effect: permit
                when:
                  request.type: MedicationDispense
            """.write(toFile: policies + "/test.yaml", atomically: true, encoding: .utf8)
        let gw = try GatewayHarness(
            policyDirectory: policies,
            authConfig: """
                external_issuers:
                  - issuer: https://as.partner.example
                    introspection_url: https://127.0.0.1:\(server.port)/introspect
                    client_id: pdmp-gateway
                    client_secret: s3cr"et
                    ca: \(pki.caCertificate)
                """)
        defer { gw.stop() }

        let exp = Forge.now + 300
        try server.respond([
            "method": "POST", "path": "/introspect", "times": 1, "headers": ["Content-Type": "application/json"],
            "body": [
                "active": true, "client_id": "opaque-app", "scope": "system/MedicationDispense.rs",
                "exp": .number(String(exp)), "iss": "https://as.partner.example",
            ],
        ])
        let (allowed, forwarded) = try gw.get("/fhir/MedicationDispense?patient=pt-alice", bearer: "opaque-token-1")
        #expect(allowed.status == 200, "\(allowed.text)")
        #expect(forwarded.count == 1)

        try server.respond([
            "method": "POST", "path": "/introspect", "headers": ["Content-Type": "application/json"],
            "body": ["active": false],
        ])
        let (refused, notForwarded) = try gw.get("/fhir/MedicationDispense?patient=pt-alice", bearer: "opaque-token-2")
        expectInvalidToken(refused, notForwarded, "inactive opaque token")

        let calls = try server.requests().filter { $0.target == "/introspect" }
        #expect(calls.count == 2)
        let basic = "Basic " + Data("pdmp-gateway:s3cr\"et".utf8).base64EncodedString()
        #expect(calls.allSatisfy { $0.method == "POST" && $0.header("Authorization") == basic })
        #expect(calls.map { String(decoding: $0.body, as: UTF8.self) } == [
            "token=opaque-token-1&token_type_hint=access_token", "token=opaque-token-2&token_type_hint=access_token",
        ])

        // The active answer is cached: the same token again costs no second introspection.
        let (again, _) = try gw.get("/fhir/MedicationDispense?patient=pt-alice", bearer: "opaque-token-1")
        #expect(again.status == 200)
        #expect(try server.requests().filter { $0.target == "/introspect" }.count == 2)
    }
}
