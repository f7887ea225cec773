import Foundation
import GatewayCore
import Testing

@testable import FHIR

@Suite("The R4 Patient compartment table and reference extraction (SPEC-DIGEST §3)")
struct PatientCompartmentTests {
    @Test("the table holds the R4 rows for the PDMP types")
    func table() {
        #expect(PatientCompartment.parameters(for: "MedicationDispense") == ["subject", "patient", "receiver"])
        #expect(PatientCompartment.parameters(for: "MedicationRequest") == ["subject"])
        #expect(PatientCompartment.parameters(for: "MedicationAdministration") == ["patient", "performer", "subject"])
        #expect(
            PatientCompartment.parameters(for: "Coverage") == ["policy-holder", "subscriber", "beneficiary", "payor"])
        #expect(PatientCompartment.parameters(for: "Patient") == ["link"])
        for type in ["Medication", "Practitioner", "PractitionerRole", "Organization", "Location", "Bundle"] {
            #expect(PatientCompartment.parameters(for: type).isEmpty)
        }
        #expect(PatientCompartment.memberTypes.count == 66)
    }

    @Test("a realistic MedicationDispense belongs to its subject only (performer is not a compartment element)")
    func dispense() {
        let resource = json(Fixtures.dispense(id: "md-alice-1", patient: "pt-alice"))
        #expect(PatientCompartment.patients(in: resource) == ["pt-alice"])
        let received = json(
            Fixtures.dispense(
                id: "md-x", patient: "pt-alice",
                extra: #","receiver":[{"reference":"Patient/pt-bob"},{"reference":"Practitioner/prac-1"}]"#))
        #expect(PatientCompartment.patients(in: received) == ["pt-alice", "pt-bob"])
    }

    @Test("a MedicationRequest belongs to its subject, not to a Patient requester")
    func request() {
        let resource = json(
            Fixtures.request(id: "mr-alice-1", patient: "pt-alice")
                .replacingOccurrences(of: "Practitioner/prac-1", with: "Patient/pt-bob"))
        #expect(PatientCompartment.patients(in: resource) == ["pt-alice"])
    }

    @Test("MedicationAdministration, Observation, Encounter, Condition, AllergyIntolerance, Coverage")
    func otherTypes() {
        let administration = json(
            #"{"resourceType":"MedicationAdministration","subject":{"reference":"Patient/a"},"#
                + #""performer":[{"actor":{"reference":"Patient/b"}},{"actor":{"reference":"Practitioner/p"}}]}"#)
        #expect(PatientCompartment.patients(in: administration) == ["a", "b"])
        let observation = json(
            #"{"resourceType":"Observation","subject":{"reference":"Patient/a"},"#
                + #""performer":[{"reference":"Organization/o"}]}"#)
        #expect(PatientCompartment.patients(in: observation) == ["a"])
        let encounter = json(#"{"resourceType":"Encounter","subject":{"reference":"Group/g"}}"#)
        #expect(PatientCompartment.patients(in: encounter) == [])
        let condition = json(
            #"{"resourceType":"Condition","subject":{"reference":"Patient/a"},"#
                + #""asserter":{"reference":"Patient/c"}}"#)
        #expect(PatientCompartment.patients(in: condition) == ["a", "c"])
        let allergy = json(
            #"{"resourceType":"AllergyIntolerance","patient":{"reference":"Patient/a"},"#
                + #""recorder":{"reference":"Practitioner/p"}}"#)
        #expect(PatientCompartment.patients(in: allergy) == ["a"])
        let coverage = json(
            #"{"resourceType":"Coverage","beneficiary":{"reference":"Patient/a"},"#
                + #""subscriber":{"reference":"Patient/b"},"payor":[{"reference":"Organization/o"}]}"#)
        #expect(PatientCompartment.patients(in: coverage) == ["a", "b"])
        let audit = json(
            #"{"resourceType":"AuditEvent","agent":[{"who":{"reference":"Device/gw"}}],"#
                + #""entity":[{"what":{"reference":"Patient/a"}},{"what":{"reference":"MedicationDispense/m"}}]}"#)
        #expect(PatientCompartment.patients(in: audit) == ["a"])
    }

    @Test("a Patient is in its own compartment and its links'; master data is in none")
    func patientAndMasterData() {
        let patient = json(
            #"{"resourceType":"Patient","id":"a","link":[{"other":{"reference":"Patient/b"},"#
                + #""type":"seealso"}]}"#)
        #expect(PatientCompartment.patients(in: patient) == ["a", "b"])
        #expect(PatientCompartment.patients(in: json(Fixtures.practitioner)) == nil)
        #expect(PatientCompartment.patients(in: json(#"{"resourceType":"Medication","id":"m"}"#)) == nil)
    }

    @Test("absolute references resolve only under known bases; unresolvable patient references are counted")
    func unresolved() throws {
        let upstream = json(
            Fixtures.dispense(id: "x", patient: "p").replacingOccurrences(
                of: "\"Patient/p\"",
                with: "\"\(Hosts.upstreamBase)/Patient/p\""))
        #expect(PatientCompartment.patients(in: upstream, bases: [Hosts.upstreamBase]) == ["p"])
        let membership = try #require(PatientCompartment.membership(of: upstream, bases: []))
        #expect(membership.patients.isEmpty && membership.unresolved == 1)
        let logical = json(
            #"{"resourceType":"MedicationDispense","subject":{"identifier":{"value":"TEST-0002"}},"#
                + #""receiver":[{"type":"Practitioner","identifier":{"value":"NPI"}}]}"#)
        #expect(PatientCompartment.membership(of: logical)?.unresolved == 1)
        let contained = json(
            ##"{"resourceType":"MedicationDispense","contained":[{"resourceType":"Patient","id":"p1"}],"##
                + ##""subject":{"reference":"#p1"}}"##)
        #expect(PatientCompartment.membership(of: contained)?.unresolved == 1)
    }

    @Test("FHIRReference parses the literal forms and refuses dot ids")
    func references() {
        #expect(FHIRReference.parse("Patient/a") == .resource(type: "Patient", id: "a"))
        #expect(FHIRReference.parse("Patient/a/_history/3") == .resource(type: "Patient", id: "a"))
        #expect(FHIRReference.parse("Patient/..") == .unresolvable)
        #expect(FHIRReference.parse("patient/a") == .unresolvable)
        #expect(FHIRReference.parse("urn:uuid:1234") == .unresolvable)
        #expect(FHIRReference.parse("#c1") == .contained("c1"))
    }
}
