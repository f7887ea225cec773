import Testing

@testable import FHIR

@Suite("Patient-context enforcement on the request (FHIR-01, 02, 04, 05, 10, 19)")
struct CompartmentCheckTests {
    static let alice: Set<String> = ["pt-alice"]

    static func decide(
        _ method: String, _ target: String, body: String = "", contentType: String? = nil,
        ifNoneExist: String? = nil
    ) throws -> CompartmentDecision {
        let interaction = try classify(method, target, contentType: contentType, body: body, ifNoneExist: ifNoneExist)
        return CompartmentCheck.requestDecision(interaction, allowedPatients: alice)
    }

    @Test("another patient's read, vread and delete get one identical 403, existing or not (FHIR-01)")
    func otherPatient() throws {
        let answers =
            try ["/fhir/Patient/pt-bob", "/fhir/Patient/pt-nobody", "/fhir/Patient/pt-bob/_history/1"]
            .map { try Self.decide("GET", $0) } + [try Self.decide("DELETE", "/fhir/Patient/pt-bob")]
        #expect(answers.allSatisfy { $0 == .denied(.accessDenied) })
        #expect(try Self.decide("GET", "/fhir/Patient/pt-alice") == .allowed(.checkResponse))
    }

    @Test("a read by id of a compartment resource is allowed only with a response check (FHIR-02)")
    func readByID() throws {
        #expect(try Self.decide("GET", "/fhir/MedicationDispense/md-bob-1") == .allowed(.checkResponse))
        #expect(try Self.decide("GET", "/fhir/MedicationDispense/md-bob-1/_history/1") == .allowed(.checkResponse))
    }

    @Test("searches that do not name the patient are denied (FHIR-04)")
    func unpinnedSearches() throws {
        let targets = [
            "/fhir/MedicationDispense", "/fhir/MedicationDispense?_id=md-bob-1",
            "/fhir/Patient?family=Otherpatient", "/fhir/Patient",
            "/fhir/MedicationDispense?code=http://www.nlm.nih.gov/research/umls/rxnorm|1049621",
        ]
        for target in targets { #expect(!(try Self.decide("GET", target)).isAllowed) }
        #expect(
            try Self.decide("GET", "/fhir/MedicationDispense?patient=pt-alice&code=x|1") == .allowed(.checkResponse))
        #expect(try Self.decide("GET", "/fhir/Patient?_id=pt-alice") == .allowed(.checkResponse))
        #expect(try Self.decide("GET", "/fhir/MedicationDispense?patient=pt-alice,pt-bob") == .denied(.accessDenied))
    }

    @Test("narrowing adds the patient parameter a policy may ask for (FHIR-04 narrowed form)")
    func narrowing() throws {
        let search = try classify("GET", "/fhir/MedicationDispense?_id=md-bob-1")
        let narrowed = try #require(CompartmentCheck.narrowed(search, to: "pt-alice"))
        #expect(narrowed.parameters.last == SearchParameter(name: "patient", values: ["Patient/pt-alice"]))
        #expect(CompartmentCheck.requestDecision(narrowed, allowedPatients: Self.alice).isAllowed)
        let patients = try #require(CompartmentCheck.narrowed(try classify("GET", "/fhir/Patient"), to: "pt-alice"))
        #expect(patients.parameters.last == SearchParameter(name: "_id", values: ["pt-alice"]))
        // A search already pinned to the patient is left as it is (a repeated `patient` would be refused
        // when the upstream's paging link repeats it).
        let pinned = try classify("GET", "/fhir/MedicationDispense?patient=pt-alice")
        #expect(CompartmentCheck.narrowed(pinned, to: "pt-alice") == pinned)
        let other = try classify("GET", "/fhir/MedicationDispense?patient=pt-bob")
        #expect(CompartmentCheck.narrowed(other, to: "pt-alice")?.parameters.count == 2)
    }

    @Test("narrowing a search that names the patient keeps one patient parameter, so next links stay valid")
    func narrowingNamedPatient() throws {
        let search = try classify("GET", "/fhir/MedicationDispense?patient=pt-alice&_count=2")
        let narrowed = try #require(CompartmentCheck.narrowed(search, to: "pt-alice"))
        #expect(narrowed.parameters.filter { $0.name == "patient" } == [
            SearchParameter(name: "patient", values: ["pt-alice"])
        ])
        // The upstream echoes the forwarded parameters into `next`: that link must classify again.
        let next = try classify("GET", "/fhir/MedicationDispense?patient=Patient%2Fpt-alice&_count=2&_offset=2")
        #expect(next.patients == ["pt-alice"])
        let typed = try classify("GET", "/fhir/MedicationDispense?patient:Patient=pt-alice")
        let one = try #require(CompartmentCheck.narrowed(typed, to: "pt-alice"))
        #expect(one.parameters.filter { $0.name == "patient" } == [
            SearchParameter(name: "patient", values: ["Patient/pt-alice"])
        ])
        let compartment = try classify("GET", "/fhir/Patient/pt-alice/MedicationDispense?_count=2")
        #expect(CompartmentCheck.narrowed(compartment, to: "pt-alice") == compartment)
        #expect(CompartmentCheck.narrowed(compartment, to: "pt-bob") == nil)
        let twoPatients = try classify("GET", "/fhir/Patient/pt-alice/MedicationDispense?patient=pt-bob")
        #expect(CompartmentCheck.narrowed(twoPatients, to: "pt-alice") == nil)
        let byID = try classify("GET", "/fhir/Patient?_id=pt-alice")
        let patient = try #require(CompartmentCheck.narrowed(byID, to: "pt-alice"))
        #expect(patient.parameters == [SearchParameter(name: "_id", values: ["pt-alice"])])
    }

    @Test("compartment searches: the path id must be the patient (FHIR-05)")
    func compartmentSearch() throws {
        #expect(try Self.decide("GET", "/fhir/Patient/pt-bob/MedicationDispense") == .denied(.accessDenied))
        #expect(
            try Self.decide("GET", "/fhir/Patient/pt-alice/MedicationDispense?patient=pt-bob")
                == .denied(.accessDenied))
        #expect(try Self.decide("GET", "/fhir/Patient/pt-alice/MedicationDispense") == .allowed(.checkResponse))
    }

    @Test("type history and system search are not for patient tokens (FHIR-10 (c))")
    func wideReads() throws {
        #expect(!(try Self.decide("GET", "/fhir/MedicationDispense/_history")).isAllowed)
        #expect(!(try Self.decide("GET", "/fhir?_type=MedicationDispense")).isAllowed)
    }

    @Test("conditional writes must be pinned to the patient (FHIR-19)")
    func conditional() throws {
        let body = Fixtures.request(id: "mr-9", patient: "pt-alice")
        let json = "application/fhir+json"
        // The body names pt-alice, but the criteria do not: the criteria must name her too.
        #expect(
            !(try Self.decide(
                "PUT", "/fhir/MedicationRequest?identifier=http://pdmp.example/rx|RX-0002-77",
                body: body, contentType: json)).isAllowed)
        let update = try classify(
            "PUT", "/fhir/MedicationRequest?identifier=http://pdmp.example/rx|RX-0002-77",
            contentType: json, body: body)
        #expect(update.patients == ["pt-alice"])
        #expect(!(try Self.decide("DELETE", "/fhir/MedicationDispense?status=completed")).isAllowed)
        #expect(
            !(try Self.decide(
                "POST", "/fhir/MedicationRequest", body: body, contentType: json,
                ifNoneExist: "identifier=http://pdmp.example/rx|RX-0002-77")).isAllowed)
        #expect(
            try Self.decide(
                "POST", "/fhir/MedicationRequest", body: body, contentType: json,
                ifNoneExist: "identifier=http://pdmp.example/rx|RX-0002-77&patient=pt-alice")
                == .allowed(.checkResponse))
        #expect(
            try Self.decide("DELETE", "/fhir/MedicationDispense?patient=pt-alice&status=completed")
                == .allowed(.checkResponse))
    }

    @Test("no patient context means no access (SCP-04)")
    func emptyContext() throws {
        let interaction = try classify("GET", "/fhir/MedicationDispense?patient=pt-alice")
        #expect(CompartmentCheck.requestDecision(interaction, allowedPatients: []) == .denied(.accessDenied))
    }
}
