import FHIR
import Foundation
import GatewayCore
import Testing

@testable import SMART

@Suite("Scope enforcement (SPEC-DIGEST §2.6; SCP-01, SCP-02, SCP-04, SCP-05)")
struct ScopeSetTests {
    static let classifier = FHIRClassifier(baseSegments: ["fhir"], localBases: ["https://gw.example:8443/fhir"])
    static let tAlice = ScopeSet(
        string: "patient/MedicationDispense.rs patient/MedicationRequest.rs patient/Patient.rs")
    static let tAliceMD = ScopeSet(string: "patient/MedicationDispense.rs")

    static func interaction(_ method: String, _ target: String, body: String = "") throws -> Interaction {
        try classifier.classify(
            method: method, target: target,
            contentType: body.isEmpty ? nil : "application/fhir+json", body: Array(body.utf8))
    }

    static func decide(
        _ scopes: ScopeSet, _ method: String, _ target: String, body: String = "",
        patient: String? = "pt-alice"
    ) throws -> ScopeDecision {
        scopes.permits(try interaction(method, target, body: body), patientContext: patient)
    }

    @Test("a type outside the scopes is denied with insufficient_scope, the same whatever exists (SCP-01)")
    func typeNotInScope() throws {
        let denial = try Self.decide(Self.tAliceMD, "GET", "/fhir/MedicationRequest?patient=pt-alice")
        guard case .denied(let error) = denial else {
            Issue.record("expected a denial")
            return
        }
        #expect(error.status == 403 && error.issueType == .forbidden)
        #expect(error.bearerChallenge?.first?.0 == "error" && error.bearerChallenge?.first?.1 == "insufficient_scope")
        #expect(error.missingScope == "patient/MedicationRequest.s")
        let body =
            #"{"resourceType":"MedicationDispense","status":"completed","subject":{"reference":"Patient/pt-alice"}}"#
        #expect(!(try Self.decide(Self.tAliceMD, "POST", "/fhir/MedicationDispense", body: body)).isAllowed)
        let searchOnly = ScopeSet(string: "patient/MedicationDispense.s")
        #expect(!(try Self.decide(searchOnly, "GET", "/fhir/MedicationDispense/md-alice-1")).isAllowed)
        #expect(try Self.decide(searchOnly, "GET", "/fhir/MedicationDispense?patient=pt-alice").isAllowed)
    }

    @Test(
        "an unparseable scope grants nothing (SCP-02)",
        arguments: [
            "patient/*.search", "patient/MedicationDispense.sr", "Patient/MedicationDispense.rs",
            "patient//MedicationDispense.rs", "patient/Medication*.rs", "patient/MedicationDispense.rs?",
            "patient/MedicationDispense.rsx", "patient/MedicationDispense.READ",
        ])
    func malformedGrantsNothing(scope: String) throws {
        #expect(!(try Self.decide(ScopeSet([scope]), "GET", "/fhir/MedicationDispense?patient=pt-alice")).isAllowed)
    }

    @Test("positive controls: .rs and .read permit the search (SCP-02)")
    func positiveControls() throws {
        for scope in ["patient/MedicationDispense.rs", "patient/MedicationDispense.read", "patient/*.cruds"] {
            let decision = try Self.decide(ScopeSet([scope]), "GET", "/fhir/MedicationDispense?patient=pt-alice")
            #expect(decision == .allowed(ScopeGrant(level: .patient, patientContext: "pt-alice")))
        }
    }

    @Test(
        "patient scopes without a usable patient context grant nothing (SCP-04)",
        arguments: [nil, "", "Patient/pt-alice", "pt-alice ", "pt alice"] as [String?])
    func noContext(patient: String?) throws {
        let decision = try Self.decide(
            Self.tAlice, "GET", "/fhir/MedicationDispense?patient=pt-alice", patient: patient)
        #expect(!decision.isAllowed)
    }

    @Test("patient scopes never combine with system scopes in one decision")
    func noMixing() throws {
        let mixed = ScopeSet(string: "patient/MedicationDispense.rs system/Practitioner.rs")
        let target = "/fhir/MedicationDispense?patient=pt-alice&_include=MedicationDispense:performer:Practitioner"
        #expect(!(try Self.decide(mixed, "GET", target)).isAllowed)
        let system = try Self.decide(
            ScopeSet(string: "system/MedicationDispense.rs system/Practitioner.r"), "GET",
            target, patient: nil)
        #expect(system == .allowed(ScopeGrant(level: .system)))
    }

    @Test("a compartment search needs search scope on its one type (Patient/x/* is refused at classification)")
    func compartmentSearchScope() throws {
        #expect(try Self.decide(Self.tAliceMD, "GET", "/fhir/Patient/pt-alice/MedicationDispense").isAllowed)
        #expect(!(try Self.decide(Self.tAliceMD, "GET", "/fhir/Patient/pt-alice/MedicationRequest")).isAllowed)
    }

    @Test("_include and _revinclude need read scope on every type they can return")
    func includes() throws {
        let target = "/fhir/MedicationDispense?patient=pt-alice&_include=MedicationDispense:prescription"
        #expect(!(try Self.decide(Self.tAliceMD, "GET", target)).isAllowed)
        #expect(try Self.decide(Self.tAlice, "GET", target).isAllowed)
        // requester may be a Practitioner, Organization, Patient, RelatedPerson, Device or PractitionerRole.
        let wide = "/fhir/MedicationRequest?patient=pt-alice&_include=MedicationRequest:requester"
        #expect(!(try Self.decide(Self.tAlice, "GET", wide)).isAllowed)
        #expect(try Self.decide(ScopeSet(string: "patient/*.rs"), "GET", wide).isAllowed)
    }

    static let outpatient = "http://terminology.hl7.org/CodeSystem/medicationrequest-category|outpatient"
    static let granular = ScopeSet(["patient/MedicationRequest.rs?category=" + outpatient])

    @Test("granular scopes narrow a search that does not carry the constraint (SCP-05 (a))")
    func granularNarrowing() throws {
        let decision = try Self.decide(Self.granular, "GET", "/fhir/MedicationRequest?patient=pt-alice")
        let expected = ScopeGrant(
            level: .patient, patientContext: "pt-alice",
            narrowing: [SearchParameter(name: "category", values: [Self.outpatient])])
        #expect(decision == .allowed(expected))
        let carried = try Self.decide(
            Self.granular, "GET",
            "/fhir/MedicationRequest?patient=pt-alice&category="
                + Self.outpatient)
        #expect(carried == .allowed(ScopeGrant(level: .patient, patientContext: "pt-alice")))
    }

    @Test("granular scopes: reads carry the constraint as an obligation; contradictions and includes are denied")
    func granularLimits() throws {
        let read = try Self.decide(Self.granular, "GET", "/fhir/MedicationRequest/mr-alice-2")
        let obligation = [SearchParameter(name: "category", values: [Self.outpatient])]
        #expect(read == .allowed(ScopeGrant(level: .patient, patientContext: "pt-alice", readConstraints: obligation)))
        let inpatient = Self.outpatient.replacingOccurrences(of: "outpatient", with: "inpatient")
        #expect(
            !(try Self.decide(
                Self.granular, "GET",
                "/fhir/MedicationRequest?patient=pt-alice&category="
                    + inpatient)).isAllowed)
        #expect(
            !(try Self.decide(
                Self.granular, "GET",
                "/fhir/MedicationRequest?patient=pt-alice&category="
                    + Self.outpatient + "," + inpatient)).isAllowed)
        #expect(
            !(try Self.decide(
                Self.granular, "GET",
                "/fhir/MedicationRequest?patient=pt-alice&_include=MedicationRequest:requester:Practitioner")).isAllowed
        )
        let write =
            #"{"resourceType":"MedicationRequest","status":"active","intent":"order","#
            + #""subject":{"reference":"Patient/pt-alice"}}"#
        #expect(
            !(try Self.decide(
                ScopeSet(["patient/MedicationRequest.c?category=" + Self.outpatient]), "POST",
                "/fhir/MedicationRequest", body: write)).isAllowed)
    }

    @Test("several granular scopes on one parameter narrow with an OR list")
    func granularOr() throws {
        let scopes = ScopeSet(["patient/MedicationRequest.rs?category=a", "patient/MedicationRequest.rs?category=b"])
        let decision = try Self.decide(scopes, "GET", "/fhir/MedicationRequest?patient=pt-alice")
        let expected = ScopeGrant(
            level: .patient, patientContext: "pt-alice",
            narrowing: [SearchParameter(name: "category", values: ["a", "b"])])
        #expect(decision == .allowed(expected))
        let mixed = ScopeSet(["patient/MedicationRequest.rs?category=a", "patient/MedicationRequest.rs?status=active"])
        #expect(!(try Self.decide(mixed, "GET", "/fhir/MedicationRequest?patient=pt-alice")).isAllowed)
    }

    @Test("the interaction table: writes, history, conditional and operations need their letters")
    func table() throws {
        let system = ScopeSet(string: "system/MedicationDispense.cud")
        let body =
            #"{"resourceType":"MedicationDispense","id":"md-1","status":"completed","#
            + #""subject":{"reference":"Patient/pt-alice"}}"#
        #expect(
            system.permits(
                try Self.interaction("PUT", "/fhir/MedicationDispense/md-1", body: body),
                patientContext: nil
            ).isAllowed)
        #expect(
            system.permits(
                try Self.interaction("DELETE", "/fhir/MedicationDispense/md-1"),
                patientContext: nil
            ).isAllowed)
        // Conditional delete also needs s.
        #expect(
            !system.permits(
                try Self.interaction("DELETE", "/fhir/MedicationDispense?status=completed"),
                patientContext: nil
            ).isAllowed)
        #expect(
            !system.permits(
                try Self.interaction("GET", "/fhir/MedicationDispense/_history"),
                patientContext: nil
            ).isAllowed)
        #expect(ScopeSet([]).permits(try Self.interaction("GET", "/fhir/metadata"), patientContext: nil).isAllowed)
        let pdmp =
            #"{"resourceType":"Parameters","parameter":[{"name":"patient","resource":{"resourceType":"Patient"}},"#
            + #"{"name":"authorized-practitioner","resource":{"resourceType":"Practitioner"}}]}"#
        let history = try Self.interaction("POST", "/fhir/$pdmp-history", body: pdmp)
        #expect(
            ScopeSet(string: "system/MedicationDispense.rs system/Patient.rs").permits(history, patientContext: nil)
                .isAllowed)
        #expect(!ScopeSet(string: "system/MedicationDispense.rs").permits(history, patientContext: nil).isAllowed)
    }

    @Test("a transaction needs every entry permitted by one level (BND-01)")
    func transaction() throws {
        let bundle =
            #"{"resourceType":"Bundle","type":"transaction","entry":["#
            + #"{"request":{"method":"GET","url":"Patient/pt-alice"}},"#
            + #"{"request":{"method":"GET","url":"MedicationDispense?patient=pt-bob"}}]}"#
        let interaction = try Self.interaction("POST", "/fhir", body: bundle)
        #expect(Self.tAlice.permits(interaction, patientContext: "pt-alice").isAllowed)
        #expect(!ScopeSet(string: "patient/Patient.rs").permits(interaction, patientContext: "pt-alice").isAllowed)
    }
}
