import Foundation
import Testing

@testable import FHIR

@Suite("Writes: body references, identity and conditional criteria (FHIR-16, FHIR-18, FHIR-19)")
struct WriteClassificationTests {
    static let fhirJSON = "application/fhir+json"

    static func dispense(subject: String, extra: String = "") -> String {
        #"{"resourceType":"MedicationDispense","status":"completed","subject":"# + subject + extra + "}"
    }

    @Test(
        "every literal reference form in a body names the patient (FHIR-16)",
        arguments: [
            #"{"reference":"Patient/pt-bob"}"#, #"{"reference":"https://gw.example:8443/fhir/Patient/pt-bob"}"#,
            #"{"reference":"http://fhir-upstream.internal:8080/fhir/Patient/pt-bob"}"#,
            #"{"reference":"Patient/pt-bob/_history/2"}"#,
        ])
    func literalReferences(subject: String) throws {
        let interaction = try classify(
            "POST", "/fhir/MedicationDispense", contentType: Self.fhirJSON,
            body: Self.dispense(subject: subject))
        #expect(interaction.kind == .create && interaction.patients == ["pt-bob"])
    }

    @Test("every compartment element counts, not only the first (FHIR-16 mixed subject/receiver)")
    func allElements() throws {
        let body = Self.dispense(
            subject: #"{"reference":"Patient/pt-alice"}"#,
            extra: #","receiver":[{"reference":"Patient/pt-bob"}]"#)
        let interaction = try classify("POST", "/fhir/MedicationDispense", contentType: Self.fhirJSON, body: body)
        #expect(interaction.patients == ["pt-alice", "pt-bob"])
    }

    @Test("identifier-only, contained and foreign patient references are 422 (FHIR-16)")
    func unresolvable() {
        let identifier = Self.dispense(
            subject: #"{"identifier":{"system":"http://pdmp.example/mrn","value":"TEST-0002"}}"#)
        let contained = Self.dispense(
            subject: ##"{"reference":"#p1"}"##,
            extra: #","contained":[{"resourceType":"#
                + #""Patient","id":"p1","identifier":[{"system":"http://pdmp.example/mrn","value":"TEST-0002"}]}]"#)
        let foreign = Self.dispense(subject: #"{"reference":"https://evil.example/fhir/Patient/pt-bob"}"#)
        for body in [identifier, contained, foreign] {
            #expect(refusal("POST", "/fhir/MedicationDispense", contentType: Self.fhirJSON, body: body)?.status == 422)
        }
    }

    @Test("update: body id and type must match the URL (FHIR-18 (a)(c))")
    func identity() throws {
        let bob = Fixtures.request(id: "mr-bob-1", patient: "pt-alice")
        #expect(
            refusal("PUT", "/fhir/MedicationRequest/mr-alice-1", contentType: Self.fhirJSON, body: bob)?.status == 400)
        let patient = Fixtures.patient("mr-alice-1", family: "X")
        #expect(
            refusal("PUT", "/fhir/MedicationRequest/mr-alice-1", contentType: Self.fhirJSON, body: patient)?.status
                == 400)
        // (b) re-parenting Bob's record: the body names pt-alice; the stored resource needs a pre-read.
        let takeover = try classify(
            "PUT", "/fhir/MedicationRequest/mr-bob-1", contentType: Self.fhirJSON,
            body:
                bob
                .replacingOccurrences(of: "\"mr-bob-1\"", with: "\"mr-bob-1\""))
        #expect(takeover.kind == .update && takeover.patients == ["pt-alice"] && takeover.resource != nil)
        #expect(
            CompartmentCheck.requestDecision(takeover, allowedPatients: ["pt-alice"])
                == .allowed([.checkResponse, .preReadTarget]))
    }

    @Test("conditional criteria are searches and name patients like one (FHIR-19)")
    func conditional() throws {
        let body = Fixtures.request(id: "mr-9", patient: "pt-alice")
        let update = try classify(
            "PUT", "/fhir/MedicationRequest?identifier=http://pdmp.example/rx|RX-0002-77",
            contentType: Self.fhirJSON, body: body)
        #expect(update.kind == .conditionalUpdate && update.patients == ["pt-alice"])
        #expect(update.parameters.map(\.name) == ["identifier"])
        let delete = try classify("DELETE", "/fhir/MedicationDispense?status=completed")
        #expect(delete.kind == .conditionalDelete && delete.patients.isEmpty)
        let create = try classify(
            "POST", "/fhir/MedicationRequest", contentType: Self.fhirJSON, body: body,
            ifNoneExist: "identifier=http://pdmp.example/rx|RX-0002-77")
        #expect(create.ifNoneExist?.first?.name == "identifier")
        #expect(
            refusal(
                "POST", "/fhir/MedicationRequest", contentType: Self.fhirJSON, body: body,
                ifNoneExist: "colour=red")?.status == 400)
        #expect(refusal("DELETE", "/fhir/MedicationDispense?_count=1")?.status == 400)
    }

    @Test("JSON Patch values written into compartment elements name patients; move/copy are refused")
    func jsonPatch() throws {
        let patch = #"[{"op":"replace","path":"/subject","value":{"reference":"Patient/pt-bob"}}]"#
        let interaction = try classify(
            "PATCH", "/fhir/MedicationDispense/md-alice-1",
            contentType: "application/json-patch+json", body: patch)
        #expect(interaction.kind == .patch && interaction.patients == ["pt-bob"])
        let receiver = #"[{"op":"add","path":"/receiver/-","value":{"reference":"Patient/pt-bob"}}]"#
        #expect(
            try classify(
                "PATCH", "/fhir/MedicationDispense/md-alice-1", contentType: "application/json-patch+json",
                body: receiver
            ).patients == ["pt-bob"])
        let move = #"[{"op":"move","from":"/receiver/0","path":"/subject"}]"#
        #expect(
            refusal(
                "PATCH", "/fhir/MedicationDispense/md-alice-1", contentType: "application/json-patch+json",
                body: move)?.status == 403)
        #expect(
            refusal(
                "PATCH", "/fhir/MedicationRequest?identifier=x|RX-0002-77",
                contentType: "application/json-patch+json", body: "[]") == nil)
    }
}
