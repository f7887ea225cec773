import Testing

@testable import FHIR

@Suite("Every patient a request names is extracted (attack-cases §0 rule 6)")
struct PatientExtractionTests {
    @Test(
        "compartment parameters name patients in every reference form",
        arguments: [
            ("patient=pt-bob", "pt-bob"), ("patient=Patient/pt-bob", "pt-bob"),
            ("patient:Patient=pt-bob", "pt-bob"), ("subject=Patient/pt-bob", "pt-bob"),
            ("subject:Patient=pt-bob", "pt-bob"), ("patient=Patient/pt-bob/_history/2", "pt-bob"),
            ("patient=https://gw.example:8443/fhir/Patient/pt-bob", "pt-bob"),
            ("patient=http%3A%2F%2Ffhir-upstream.internal%3A8080%2Ffhir%2FPatient%2Fpt-bob", "pt-bob"),
            ("receiver=Patient/pt-bob", "pt-bob"),
        ])
    func referenceForms(query: String, patient: String) throws {
        let interaction = try classify("GET", "/fhir/MedicationDispense?status=completed&" + query)
        #expect(interaction.patients == [patient])
    }

    @Test("comma lists name every patient; a second patient parameter is another patient")
    func lists() throws {
        #expect(
            try classify("GET", "/fhir/MedicationDispense?patient=pt-alice,pt-bob").patients == ["pt-alice", "pt-bob"])
        let two = try classify("GET", "/fhir/MedicationDispense?patient=pt-alice&subject=Patient/pt-bob")
        #expect(two.patients == ["pt-alice", "pt-bob"])
    }

    @Test("a repeated patient parameter is ambiguous and refused (ARCHITECTURE §1 step 2)")
    func repeated() {
        #expect(refusal("GET", "/fhir/MedicationDispense?patient=pt-alice&patient=pt-bob")?.status == 400)
    }

    @Test("MedicationRequest.patient names a patient although R4 lists only subject in the compartment")
    func nonCompartmentPatientParameter() throws {
        #expect(try classify("GET", "/fhir/MedicationRequest?patient=pt-bob").patients == ["pt-bob"])
        #expect(try classify("GET", "/fhir/MedicationRequest?requester=Patient/pt-bob").patients == ["pt-bob"])
        #expect(try classify("GET", "/fhir/MedicationRequest?requester=Practitioner/prac-1").patients.isEmpty)
    }

    @Test("references that cannot be checked are refused: foreign URLs, bare ids of mixed targets, odd modifiers")
    func unresolvable() {
        #expect(
            refusal("GET", "/fhir/MedicationDispense?patient=https://evil.example/fhir/Patient/pt-bob")?.status
                == 400)
        #expect(refusal("GET", "/fhir/MedicationDispense?receiver=pt-bob")?.status == 400)
        #expect(refusal("GET", "/fhir/MedicationDispense?patient=Practitioner/prac-1")?.status == 400)
        #expect(refusal("GET", "/fhir/MedicationDispense?patient:missing=false")?.status == 403)
        #expect(
            refusal("GET", "/fhir/MedicationDispense?patient:identifier=http://pdmp.example/mrn|TEST-0002")?
                .status == 403)
        #expect(refusal("GET", "/fhir/MedicationDispense?patient:not=pt-alice")?.status == 403)
    }

    @Test("Patient searches by _id name those patients; the path names the instance (FHIR-04)")
    func patientIDs() throws {
        #expect(try classify("GET", "/fhir/Patient?_id=pt-bob").patients == ["pt-bob"])
        #expect(try classify("GET", "/fhir/Patient?family=Otherpatient").patients.isEmpty)
        #expect(try classify("GET", "/fhir/MedicationDispense?_id=md-bob-1").patients.isEmpty)
        #expect(try classify("GET", "/fhir/Patient/pt-bob/_history/1").patients == ["pt-bob"])
        #expect(try classify("DELETE", "/fhir/Patient/pt-bob").patients == ["pt-bob"])
    }

    @Test("search parameters on a read are refused: they would not constrain it (FHIR-02 (c))")
    func readWithSearchParameters() {
        #expect(refusal("GET", "/fhir/MedicationDispense/md-bob-1?patient=pt-alice")?.status == 400)
    }

    @Test("POST _search merges the form body with the query (FHIR-15)")
    func postSearch() throws {
        let form = "application/x-www-form-urlencoded"
        let body = try classify("POST", "/fhir/MedicationDispense/_search", contentType: form, body: "patient=pt-bob")
        #expect(body.kind == .searchType && body.patients == ["pt-bob"])
        // (b) the same parameter in query and body is a repeated patient parameter.
        #expect(
            refusal(
                "POST", "/fhir/MedicationDispense/_search?patient=pt-alice", contentType: form,
                body: "patient=pt-bob")?.status == 400)
        let split = try classify(
            "POST", "/fhir/MedicationDispense/_search?status=completed", contentType: form,
            body: "subject=Patient%2Fpt-bob")
        #expect(split.patients == ["pt-bob"] && split.parameters.count == 2)
        #expect(
            refusal("POST", "/fhir/MedicationDispense/_search", contentType: "text/plain", body: "patient=pt-alice")?
                .status == 415)
        #expect(
            refusal(
                "POST", "/fhir/MedicationDispense/_search", contentType: form + "; charset=utf-16",
                body: "patient=pt-alice")?.status == 415)
    }
}
