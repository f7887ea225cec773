// SCP-04 from the outside: a token whose `patient` claim is absent, "", null, an array, prefixed
// ("Patient/pt-alice", pinned: not normalised) or space-padded gets 403 for patient-level access, never 401
// and never a type-level search; a malformed claim also never widens a system-scoped token. Own tokens and
// a trusted partner's tokens follow the same rule (Sources/SMART/Auth/PrincipalMapping.swift).

import Foundation
import Gateway
import GatewayCore
import GatewayTesting
import Testing

@Suite("SCP-04: patient claims that give no usable patient context are 403")
struct AuthPatientClaimTests {
    let setup = AuthGateway.setup
    var gw: GatewayHarness { setup.harness }

    /// (b) "", (c) null, (d) an array, (e) the prefixed form, (f) a trailing space; (a) is no claim at all.
    static let unusable: [(String, JSONValue?)] = [
        ("(a) absent", nil), ("(b) empty", ""), ("(c) null", .null), ("(d) array", .array(["pt-alice", "pt-bob"])),
        ("(e) Patient/pt-alice", "Patient/pt-alice"), ("(f) trailing space", "pt-alice "),
    ]

    func ownToken(scopes: [String], patient: JSONValue?) throws -> String {
        try gw.runtime.services.issueTestToken(
            clientID: "app-1", scopes: scopes, now: Date().timeIntervalSince1970,
            extraClaims: patient.map { [("patient", $0)] } ?? [])
    }

    func expectForbidden(_ path: String, _ token: String, _ label: String) throws {
        let (response, seen) = try gw.get(path, bearer: token)
        #expect(response.status == 403, "\(label) \(path): \(response.status) \(response.text)")
        let challenge = response.header("WWW-Authenticate") ?? ""
        #expect(!challenge.contains("invalid_token"), "\(label): the token itself is not invalid: \(challenge)")
        #expect(response.json?["resourceType"] == "OperationOutcome", "\(label)")
        #expect(seen.isEmpty, "\(label) \(path): the upstream saw \(seen.count) request(s)")
    }

    @Test("own tokens with patient scopes: every unusable claim is 403 for a type search and a named patient")
    func ownPatientScopes() throws {
        // Baseline: the same token with a usable claim is forwarded.
        let good = try ownToken(scopes: ["patient/MedicationDispense.rs"], patient: "pt-alice")
        let (ok, forwarded) = try gw.get("/fhir/MedicationDispense?patient=pt-alice", bearer: good)
        #expect(ok.status == 200, "\(ok.text)")
        #expect(forwarded.count == 1)
        for (label, claim) in Self.unusable {
            let token = try ownToken(scopes: ["patient/MedicationDispense.rs"], patient: claim)
            try expectForbidden("/fhir/MedicationDispense", token, label)
            try expectForbidden("/fhir/MedicationDispense?patient=pt-alice", token, label)
        }
    }

    @Test("a malformed claim on a system-scoped token restricts it to no patient instead of widening it")
    func systemScopesStayRestricted() throws {
        for (label, claim) in Self.unusable.dropFirst() {
            let token = try ownToken(scopes: ["system/MedicationDispense.rs"], patient: claim)
            try expectForbidden("/fhir/MedicationDispense?patient=pt-alice", token, label)
        }
    }

    @Test("introspection calls a token with an unusable patient claim inactive")
    func introspectionInactive() throws {
        let introspection = AuthIntrospectionTests()
        let caller = try introspection.callerToken()
        let token = try ownToken(scopes: ["patient/MedicationDispense.rs"], patient: .array(["pt-alice"]))
        let response = try introspection.introspect(token, caller: caller)
        #expect(response.status == 200)
        #expect(response.text == "{\"active\":false}")
    }

    @Test("a partner token with an array patient claim is 403 for the named patient, not forwarded")
    func partnerTokens() throws {
        let partner = AuthExternalIssuerTests()
        _ = try gw.get(AuthExternalIssuerTests.searchPath, bearer: partner.partnerToken())  // keys cached
        for (label, claim) in Self.unusable.dropFirst() {
            let raw = String(decoding: claim!.serialized(), as: UTF8.self)
            let token = try partner.partnerToken(
                client: "partner-app", scope: "system/MedicationDispense.rs", extra: [("patient", raw)])
            try expectForbidden(AuthExternalIssuerTests.searchPath, token, "partner \(label)")
        }
    }
}
