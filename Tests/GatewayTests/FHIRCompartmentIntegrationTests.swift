// The patient compartment through the running gateway (attack cases FHIR-01, -02, -04, -05, -06, -09, -10,
// -11, -12, -15) with `T_alice` and the repository's sample policies: every patient a request names must be
// the token's, a denial never depends on whether the target exists, and what the gateway cannot reason
// about never reaches the upstream.

import Foundation
import GatewayCore
import GatewayTesting
import Testing

@Suite("FHIR patient compartment through the gateway")
struct FHIRCompartmentIntegrationTests {
    let gw = FHIRGateways.sample
    var alice: String { get throws { try Tokens.patient(gw) } }

    /// Expects 403 forbidden with nothing sent upstream, and returns the body for comparisons.
    @discardableResult
    func expectRefused(_ method: String, _ path: String, status: Int = 403, bearer: String? = nil, body: String? = nil,
                       headers: [(String, String)] = [], sourceLocation: SourceLocation = #_sourceLocation) throws -> [UInt8] {
        let result = try gw.send(method, path, bearer: try bearer ?? alice, headers: headers, body: body)
        #expect(result.status == status, "\(method) \(path)", sourceLocation: sourceLocation)
        #expect(result.json?["resourceType"] == "OperationOutcome", "\(method) \(path)", sourceLocation: sourceLocation)
        #expect(result.upstream.isEmpty, "\(method) \(path) reached the upstream", sourceLocation: sourceLocation)
        return result.response.body
    }

    @Test("FHIR-01: another patient, a missing one, their history and a delete: one identical 403, nothing upstream")
    func otherPatient() throws {
        let bob = try expectRefused("GET", "/fhir/Patient/pt-bob")
        let nobody = try expectRefused("GET", "/fhir/Patient/pt-nobody")
        #expect(bob == nobody)
        try expectRefused("GET", "/fhir/Patient/pt-bob/_history/1")
        try expectRefused("DELETE", "/fhir/Patient/pt-bob", bearer: Tokens.patient(gw, Tokens.aliceWrite))
    }

    @Test("FHIR-01 control: the token's own Patient is read upstream exactly once")
    func ownPatient() throws {
        try gw.serve(path: "/fhir/Patient/pt-alice", body: Fixtures.patient("pt-alice"))
        let own = try gw.send("GET", "/fhir/Patient/pt-alice", bearer: alice)
        #expect(own.status == 200)
        #expect(own.json?["id"] == "pt-alice")
        #expect(own.upstream.map(\.target) == ["/fhir/Patient/pt-alice"])
        #expect(own.upstream.first?.method == "GET")
    }

    @Test("FHIR-01: the token's own Patient answered 404 or 410 upstream is the same 403 as another patient")
    func ownPatientMissing() throws {
        let denied = try expectRefused("GET", "/fhir/Patient/pt-bob")
        try gw.serve(path: "/fhir/Patient/pt-carol", status: 404, body: Fixtures.notFound)
        try gw.serve(path: "/fhir/Patient/pt-dave", status: 410, body: Fixtures.notFound)
        for patient in ["pt-carol", "pt-dave"] {
            let missing = try gw.send("GET", "/fhir/Patient/\(patient)", bearer: Tokens.patient(gw, patient: patient))
            #expect(missing.status == 403)
            #expect(missing.response.body == denied)
            #expect(missing.upstream.count == 1)
        }
    }

    @Test("FHIR-02: a compartment resource read by id is released only when it is the token's patient's")
    func readByID() throws {
        try gw.serve(path: "/fhir/MedicationDispense/md-bob-1", body: Fixtures.dispense("md-bob-1", patient: "pt-bob"))
        try gw.serve(path: "/fhir/MedicationDispense/md-bob-1/_history/1", body: Fixtures.dispense("md-bob-1", patient: "pt-bob"))
        try gw.serve(path: "/fhir/MedicationDispense/md-none", status: 404, body: Fixtures.notFound)
        try gw.serve(path: "/fhir/MedicationDispense/md-alice-1", body: Fixtures.dispense("md-alice-1", patient: "pt-alice"))
        var bodies: [[UInt8]] = []
        for path in ["/fhir/MedicationDispense/md-bob-1", "/fhir/MedicationDispense/md-none",
                     "/fhir/MedicationDispense/md-bob-1/_history/1"] {
            let result = try gw.send("GET", path, bearer: alice)
            #expect(result.status == 403, "\(path)")
            #expect(!result.response.text.contains("pt-bob"))
            // The gateway's own read of the target; its answer is not relayed.
            #expect(result.upstream.map(\.target) == [path])
            bodies.append(result.response.body)
        }
        #expect(Set(bodies).count == 1)
        // (c) a search parameter on a read cannot vouch for the resource: refused before the upstream.
        try expectRefused("GET", "/fhir/MedicationDispense/md-bob-1?patient=pt-alice", status: 400)
        let own = try gw.send("GET", "/fhir/MedicationDispense/md-alice-1", bearer: alice)
        #expect(own.status == 200)
        #expect(own.json?["id"] == "md-alice-1")
    }

    @Test("FHIR-04: searches that do not name the token's patient are 403", arguments: [
        "/fhir/MedicationDispense", "/fhir/MedicationDispense?_id=md-bob-1", "/fhir/Patient?family=Otherpatient",
        "/fhir/Patient", "/fhir/MedicationDispense?code=http://www.nlm.nih.gov/research/umls/rxnorm|1049621",
    ])
    func unpinnedSearch(path: String) throws {
        try expectRefused("GET", path)
    }

    @Test("FHIR-05: compartment searches of another patient, mixed patients, `*`, non-members, other compartments")
    func compartmentSearch() throws {
        try expectRefused("GET", "/fhir/Patient/pt-bob/MedicationDispense")
        try expectRefused("GET", "/fhir/Patient/pt-alice/MedicationDispense?patient=pt-bob")
        try expectRefused("GET", "/fhir/Patient/pt-alice/*", status: 400)
        try expectRefused("GET", "/fhir/Patient/pt-alice/Practitioner", status: 400)
        try expectRefused("GET", "/fhir/Practitioner/prac-1/MedicationRequest")
        let own = try gw.send("GET", "/fhir/Patient/pt-alice/MedicationDispense", bearer: alice)
        #expect(own.status == 200)
        #expect(own.upstream.map(\.target) == ["/fhir/Patient/pt-alice/MedicationDispense"])
    }

    @Test("FHIR-06: _has reverse chains are refused for patient and system tokens")
    func reverseChain() throws {
        let rxnorm = "http://www.nlm.nih.gov/research/umls/rxnorm|1049621"
        try expectRefused("GET", "/fhir/Patient?_has:MedicationDispense:patient:code=\(rxnorm)")
        try expectRefused(
            "GET", "/fhir/Patient?_has:MedicationDispense:patient:code=\(rxnorm)",
            bearer: Tokens.system(gw, ["system/Patient.rs"]))
        try expectRefused(
            "GET", "/fhir/Practitioner?_has:MedicationRequest:requester:subject=Patient/pt-bob",
            bearer: Tokens.patient(gw, Tokens.alice + ["patient/Practitioner.rs"]))
    }

    @Test("FHIR-09: every $everything form is refused")
    func everything() throws {
        try expectRefused("GET", "/fhir/Patient/pt-bob/$everything")
        try expectRefused("GET", "/fhir/Patient/$everything")
        try expectRefused("GET", "/fhir/Patient/$everything?_id=pt-alice,pt-bob")
        try expectRefused(
            "POST", "/fhir/Patient/$everything", body: #"{"resourceType":"Parameters","parameter":[{"name":"_id","valueString":"pt-bob"}]}"#,
            headers: [("Content-Type", "application/fhir+json")])
        try expectRefused("GET", "/fhir/Patient/pt-alice/$everything", bearer: Tokens.patient(gw, ["patient/MedicationDispense.rs"]))
    }

    @Test("FHIR-10: system, type and other-patient instance history are refused")
    func history() throws {
        try expectRefused("GET", "/fhir/_history")
        try expectRefused("GET", "/fhir/_history?_type=MedicationDispense")
        try expectRefused("GET", "/fhir/MedicationDispense/_history")
        // Instance history is not a sample-policy interaction: refused by policy (FHIR-10 (e) with the open
        // policy is in FHIRWriteIntegrationTests).
        try expectRefused("GET", "/fhir/MedicationDispense/md-bob-1/_history")
    }

    @Test("FHIR-11: GraphQL, merge, export and meta operations are refused")
    func operations() throws {
        try expectRefused("GET", "/fhir/$graphql?query=%7BPatientList%7Bid%2Cname%7Bfamily%7D%7D%7D")
        try expectRefused(
            "POST", "/fhir/Patient/pt-alice/$graphql", body: #"{"query":"{ MedicationDispenseList(patient:\"pt-bob\"){id} }"}"#,
            headers: [("Content-Type", "application/json")])
        try expectRefused(
            "POST", "/fhir/MedicationRequest/$hapi.fhir.merge", body: #"{"resourceType":"Parameters","parameter":[]}"#,
            headers: [("Content-Type", "application/fhir+json")])
        try expectRefused("GET", "/fhir/$export")
        try expectRefused("GET", "/fhir/Patient/$export")
        try expectRefused(
            "POST", "/fhir/MedicationDispense/md-alice-1/$meta-add", body: #"{"resourceType":"Parameters","parameter":[]}"#,
            headers: [("Content-Type", "application/fhir+json")])
    }

    @Test("FHIR-12: parameters the gateway cannot reason about are 400 and never forwarded", arguments: [
        "_filter=patient%20eq%20pt-bob%20or%20patient%20eq%20pt-alice", "_query=all-dispenses",
        "_list=list-of-controlled", "_content=Otherpatient", "_text=oxycodone", "_containedType=contained",
    ])
    func specialParameters(parameter: String) throws {
        try expectRefused("GET", "/fhir/MedicationDispense?patient=pt-alice&" + parameter, status: 400)
    }

    @Test("FHIR-15: POST _search bodies are checked like queries, and unparseable bodies are 415")
    func postSearch() throws {
        let form = [("Content-Type", "application/x-www-form-urlencoded")]
        try expectRefused("POST", "/fhir/MedicationDispense/_search", body: "patient=pt-bob", headers: form)
        // (b) query and body both name a patient: pinned 400 (a repeated patient parameter is ambiguous).
        try expectRefused(
            "POST", "/fhir/MedicationDispense/_search?patient=pt-alice", status: 400, body: "patient=pt-bob", headers: form)
        try expectRefused(
            "POST", "/fhir/MedicationDispense/_search", status: 415, body: "patient=pt-alice",
            headers: [("Content-Type", "text/plain")])
        try expectRefused(
            "POST", "/fhir/MedicationDispense/_search", status: 415, body: "patient=pt-alice",
            headers: [("Content-Type", "application/x-www-form-urlencoded; charset=utf-16")])
        // Control: the allowed body goes upstream as the equivalent GET, narrowed, with no body.
        let allowed = try gw.send("POST", "/fhir/MedicationDispense/_search", bearer: alice, headers: form, body: "patient=pt-alice")
        #expect(allowed.status == 200)
        let upstream = try #require(allowed.upstream.first)
        #expect(allowed.upstream.count == 1)
        #expect(upstream.method == "GET")
        #expect(upstream.target == "/fhir/MedicationDispense?patient=pt-alice")
        #expect(upstream.body.isEmpty)
        #expect(upstream.header("Content-Type") == nil)
    }
}
