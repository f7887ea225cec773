// SMART scope enforcement through the running gateway (attack cases SCP-01, SCP-02, SCP-04, SCP-05):
// decided before the upstream is contacted, strictly parsed, never without a usable patient context, and
// granular constraints enforced on the upstream query and on every returned resource.

import Foundation
import Gateway
import GatewayCore
import GatewayTesting
import Testing

@Suite("FHIR scopes through the gateway")
struct FHIRScopeIntegrationTests {
    let gw = FHIRGateways.sample

    @Test("SCP-01: a type outside the scopes is 403 insufficient_scope before the upstream, with identical bytes")
    func typeNotInScope() throws {
        let aliceMD = try Tokens.patient(gw, ["patient/MedicationDispense.rs"])
        let (a, b) = (
            try gw.send("GET", "/fhir/MedicationRequest?patient=pt-alice", bearer: aliceMD),
            try gw.send("GET", "/fhir/MedicationRequest?patient=pt-alice", bearer: aliceMD)
        )
        for denied in [a, b] {
            #expect(denied.status == 403)
            #expect(denied.response.header("WWW-Authenticate")?.contains(#"error="insufficient_scope""#) == true)
            #expect(denied.issueCode == "forbidden")
            #expect(denied.upstream.isEmpty)
        }
        #expect(a.response.body == b.response.body)
        let create = try gw.send(
            "POST", "/fhir/MedicationDispense", bearer: aliceMD, headers: [("Content-Type", "application/fhir+json")],
            body: Fixtures.dispense("md-new", patient: "pt-alice"))
        #expect(create.status == 403)
        #expect(create.upstream.isEmpty)
        let searchOnly = try Tokens.patient(gw, ["patient/MedicationDispense.s"])
        let read = try gw.send("GET", "/fhir/MedicationDispense/md-alice-1", bearer: searchOnly)
        #expect(read.status == 403)
        #expect(read.response.header("WWW-Authenticate")?.contains("insufficient_scope") == true)
        #expect(read.upstream.isEmpty)
    }

    @Test(
        "SCP-02: an unparseable scope grants nothing",
        arguments: [
            "patient/*.search", "patient/MedicationDispense.sr", "Patient/MedicationDispense.rs",
            "patient//MedicationDispense.rs", "patient/Medication*.rs", "patient/MedicationDispense.rs?",
            "patient/MedicationDispense.rsx", "patient/MedicationDispense.READ",
        ])
    func malformedScope(scope: String) throws {
        let denied = try gw.send(
            "GET", "/fhir/MedicationDispense?patient=pt-alice", bearer: Tokens.patient(gw, [scope]))
        #expect(denied.status == 403)
        #expect(denied.upstream.isEmpty)
    }

    @Test(
        "SCP-02 controls: v2 `.rs` and v1 `.read` grant the search",
        arguments: [
            "patient/MedicationDispense.rs", "patient/MedicationDispense.read",
        ])
    func wellFormedScope(scope: String) throws {
        let allowed = try gw.send(
            "GET", "/fhir/MedicationDispense?patient=pt-alice", bearer: Tokens.patient(gw, [scope]))
        #expect(allowed.status == 200)
        #expect(allowed.upstream.count == 1)
    }

    @Test("SCP-04: a patient scope without a usable patient context is refused; the upstream sees nothing")
    func noPatientContext() throws {
        let scopes = ["patient/MedicationDispense.rs"]
        // (a) no claim and (e) the prefixed form (pinned: not normalised) are 403 from the scope check.
        for token in [
            try gw.token(client: "app-1", scopes: scopes), try Tokens.patient(gw, scopes, patient: "Patient/pt-alice"),
        ] {
            let denied = try gw.send("GET", "/fhir/MedicationDispense", bearer: token)
            #expect(denied.status == 403)
            #expect(denied.upstream.isEmpty)
        }
        // (b) "", (c) null, (d) an array, (f) "pt-alice ": an unusable patient context (SMART
        // PrincipalMapping.patient), 403 like (a) and (e); AuthPatientClaimTests covers more shapes.
        let malformed: [JSONValue] = ["", .null, .array(["pt-alice", "pt-bob"]), "pt-alice "]
        for claim in malformed {
            let token = try gw.runtime.services.issueTestToken(
                clientID: "app-1", scopes: scopes, now: Date().timeIntervalSince1970, extraClaims: [("patient", claim)])
            let denied = try gw.send("GET", "/fhir/MedicationDispense", bearer: token)
            #expect(denied.status == 403)
            #expect(denied.upstream.isEmpty)
        }
    }
}

// Serialized: these tests program the recorder's answer to the same search path.
@Suite("SMART v2 granular scopes (SCP-05)", .serialized)
struct FHIRGranularScopeTests {
    let gw = FHIRGateways.sample
    static let category = "http://terminology.hl7.org/CodeSystem/medicationrequest-category"
    var token: String {
        get throws { try Tokens.patient(gw, ["patient/MedicationRequest.rs?category=\(Self.category)|outpatient"]) }
    }

    @Test("(a)(d) the search goes upstream once with the patient and the category, and Prefer: handling=strict")
    func narrowedSearch() throws {
        let lenient = try gw.send(
            "GET", "/fhir/MedicationRequest?patient=pt-alice", bearer: token, headers: [("Prefer", "handling=lenient")])
        #expect(lenient.status == 200)
        let upstream = try #require(lenient.upstream.first)
        #expect(lenient.upstream.count == 1)
        let encodedCategory = Self.category + "|outpatient"
        #expect(
            upstream.target
                == "/fhir/MedicationRequest?patient=pt-alice&category=\(encodedCategory)")
        #expect(upstream.headerValues("Prefer") == ["handling=strict"])
    }

    @Test("(a) an upstream that ignores the category: the inpatient entry is withheld")
    func constraintOnEntries() throws {
        let path = "/fhir/MedicationRequest"
        // The recorder answers this search whatever its query (path rule); entries of both categories.
        try gw.serve(
            path: path, times: 1,
            body: Fixtures.searchset(
                [
                    Fixtures.request("mr-alice-1", patient: "pt-alice"),
                    Fixtures.request("mr-alice-2", patient: "pt-alice", category: "inpatient"),
                ], base: gw.upstreamBase, total: 2))
        let result = try gw.send("GET", "/fhir/MedicationRequest?patient=pt-alice", bearer: token)
        #expect(result.status == 200)
        let entries = result.json?["entry"]?.arrayValue ?? []
        let ids = entries.compactMap { $0["resource"]?["id"]?.stringValue }
        #expect(ids == ["mr-alice-1"])
        #expect(entries.last?["resource"]?["resourceType"] == "OperationOutcome")
        #expect(result.json?["total"] == nil)
    }

    @Test("(b) reading a resource outside the constraint is the same 403 as a missing id")
    func readOutsideConstraint() throws {
        try gw.serve(
            path: "/fhir/MedicationRequest/mr-alice-2",
            body: Fixtures.request(
                "mr-alice-2", patient: "pt-alice", category: "inpatient"))
        try gw.serve(path: "/fhir/MedicationRequest/mr-none-5", status: 404, body: Fixtures.notFound)
        try gw.serve(
            path: "/fhir/MedicationRequest/mr-alice-1", body: Fixtures.request("mr-alice-1", patient: "pt-alice"))
        let inpatient = try gw.send("GET", "/fhir/MedicationRequest/mr-alice-2", bearer: token)
        let missing = try gw.send("GET", "/fhir/MedicationRequest/mr-none-5", bearer: token)
        #expect(inpatient.status == 403 && missing.status == 403)
        #expect(inpatient.response.body == missing.response.body)
        #expect(!inpatient.response.text.contains("inpatient"))
        let outpatient = try gw.send("GET", "/fhir/MedicationRequest/mr-alice-1", bearer: token)
        #expect(outpatient.status == 200)
        #expect(outpatient.json?["id"] == "mr-alice-1")
    }

    @Test("(c) a contradicting category and (f) an _include are refused before the upstream")
    func contradictionAndInclude() throws {
        let contradiction = try gw.send(
            "GET", "/fhir/MedicationRequest?patient=pt-alice&category=\(Self.category)|inpatient", bearer: token)
        #expect(contradiction.status == 403)
        #expect(contradiction.upstream.isEmpty)
        let include = try gw.send(
            "GET", "/fhir/MedicationRequest?patient=pt-alice&_include=MedicationRequest:requester", bearer: token)
        #expect(include.status == 403)
        #expect(include.upstream.isEmpty)
    }

    @Test("(e) the upstream rejects the category: 502, and the gateway never retries without it")
    func upstreamRejectsConstraint() throws {
        try gw.serve(
            path: "/fhir/MedicationRequest", status: 400, times: 1,
            body:
                #"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-supported","diagnostics":"unknown parameter category"}]}"#
        )
        let result = try gw.send("GET", "/fhir/MedicationRequest?patient=pt-alice", bearer: token)
        #expect(result.status == 502)
        #expect(result.upstream.count == 1)
        #expect(result.upstream.first?.target.contains("category=") == true)
    }
}
