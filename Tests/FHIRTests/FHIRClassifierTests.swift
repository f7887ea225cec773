import Testing

@testable import FHIR

@Suite("Interaction classifier: URL forms and refused features")
struct FHIRClassifierTests {
    @Test("each R4 URL form gets its interaction kind")
    func kinds() throws {
        #expect(try classify("GET", "/fhir/metadata").kind == .capabilities)
        #expect(try classify("GET", "/fhir/MedicationDispense/md-1").kind == .read)
        let vread = try classify("GET", "/fhir/MedicationDispense/md-1/_history/2")
        #expect(vread.kind == .vread && vread.versionId == "2" && vread.id == "md-1")
        #expect(try classify("GET", "/fhir/MedicationDispense/md-1/_history").kind == .historyInstance)
        #expect(try classify("GET", "/fhir/MedicationDispense/_history?_count=10").kind == .historyType)
        #expect(try classify("GET", "/fhir/MedicationDispense?patient=pt-alice").kind == .searchType)
        #expect(try classify("GET", "/fhir/Patient/pt-alice/MedicationDispense").kind == .searchCompartment)
        #expect(try classify("GET", "/fhir?_type=MedicationDispense&_id=md-1").kind == .searchSystem)
        #expect(try classify("DELETE", "/fhir/MedicationDispense/md-1").kind == .delete)
        #expect(
            try classify("DELETE", "/fhir/MedicationDispense?patient=pt-alice&status=completed").kind
                == .conditionalDelete)
    }

    @Test("unknown resource types and unknown search parameters are 400 (the upstream would ignore them)")
    func unknowns() {
        #expect(refusal("GET", "/fhir/Prescription?patient=pt-alice")?.status == 400)
        #expect(refusal("GET", "/fhir/MedicationDispense?patient=pt-alice&colour=blue")?.status == 400)
        #expect(refusal("GET", "/fhir/MedicationDispense?patient=pt-alice&status:fuzzy=completed")?.status == 400)
        #expect(refusal("GET", "/fhir/MedicationDispense?patient=pt-alice&_sort=colour")?.status == 400)
        #expect(refusal("GET", "/fhir/MedicationDispense?patient=pt-alice&_count=many")?.status == 400)
    }

    @Test("modifiers, chains and common parameters are parsed into SearchParameter")
    func parameterShape() throws {
        let interaction = try classify(
            "GET",
            "/fhir/MedicationDispense?patient=pt-alice&code:text=oxy&medication.code=1049621&status=completed,"
                + "in-progress&_lastUpdated=gt2026-01-01&_count=50&_sort=-whenhandedover")
        let byName = Dictionary(interaction.parameters.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        #expect(byName["code"]?.modifier == "text")
        #expect(byName["medication"]?.chain == "code")
        #expect(byName["status"]?.values == ["completed", "in-progress"])
        #expect(byName["_count"]?.values == ["50"])
    }

    @Test("escaped commas stay inside one value")
    func escapedComma() throws {
        let interaction = try classify("GET", "/fhir/Patient?_id=pt-alice&family=a%5C%2Cb")
        #expect(interaction.parameters.first { $0.name == "family" }?.values == ["a\\,b"])
    }

    @Test("_has is refused with 403 in every position (FHIR-06)")
    func reverseChaining() {
        let rxnorm = "http://www.nlm.nih.gov/research/umls/rxnorm|1049621"
        #expect(refusal("GET", "/fhir/Patient?_has:MedicationDispense:patient:code=\(rxnorm)")?.status == 403)
        #expect(
            refusal("GET", "/fhir/Practitioner?_has:MedicationRequest:requester:subject=Patient/pt-bob")?
                .status == 403)
    }

    @Test(
        "_filter, _query, _list, _content, _text and _containedType are 400 unsupported (FHIR-12)",
        arguments: [
            "_filter=patient%20eq%20pt-bob%20or%20patient%20eq%20pt-alice", "_query=all-dispenses",
            "_list=list-of-controlled", "_content=Otherpatient", "_text=oxycodone", "_containedType=contained",
            "_contained=true",
        ])
    func specialParameters(suffix: String) {
        let error = refusal("GET", "/fhir/MedicationDispense?patient=pt-alice&" + suffix)
        #expect(error?.status == 400)
        #expect(error?.publicMessage.hasPrefix("Unsupported parameter") == true)
    }

    @Test("$everything in every form is refused before the upstream (FHIR-09)")
    func everything() {
        #expect(refusal("GET", "/fhir/Patient/pt-bob/$everything")?.status == 403)
        #expect(refusal("GET", "/fhir/Patient/$everything")?.status == 403)
        #expect(refusal("GET", "/fhir/Patient/$everything?_id=pt-alice,pt-bob")?.status == 403)
        let body = #"{"resourceType":"Parameters","parameter":[{"name":"_id","valueString":"pt-bob"}]}"#
        #expect(
            refusal("POST", "/fhir/Patient/$everything", contentType: "application/fhir+json", body: body)?
                .status == 403)
        #expect(refusal("GET", "/fhir/Patient/pt-alice/$everything")?.status == 403)
    }

    @Test("system history is refused; type and instance history classify for the later checks (FHIR-10)")
    func history() throws {
        #expect(refusal("GET", "/fhir/_history")?.status == 403)
        #expect(refusal("GET", "/fhir/_history?_type=MedicationDispense")?.status == 403)
        #expect(try classify("GET", "/fhir/MedicationDispense/_history").patients.isEmpty)
        #expect(refusal("GET", "/fhir/MedicationDispense/_history?patient=pt-alice")?.status == 400)
    }

    @Test("GraphQL and operations off the allow-list are 403 (FHIR-11)")
    func operations() {
        #expect(refusal("GET", "/fhir/$graphql?query=%7BPatientList%7Bid%7D%7D")?.status == 403)
        let graphql = #"{"query":"{ MedicationDispenseList(patient:\"pt-bob\"){id} }"}"#
        #expect(
            refusal("POST", "/fhir/Patient/pt-alice/$graphql", contentType: "application/json", body: graphql)?
                .status == 403)
        #expect(refusal("POST", "/fhir/MedicationRequest/$hapi.fhir.merge")?.status == 403)
        #expect(refusal("GET", "/fhir/$export")?.status == 403)
        #expect(refusal("GET", "/fhir/Patient/$export")?.status == 403)
        #expect(refusal("POST", "/fhir/MedicationDispense/md-alice-1/$meta-add")?.status == 403)
        let permissive = FHIRClassifier(allowedOperations: ["graphql", "meta-add"])
        #expect(throws: FHIRRequestError.self) { try permissive.classify(method: "GET", target: "/fhir/$graphql") }
    }

    @Test("compartment searches: only member types of the Patient compartment (FHIR-05)")
    func compartmentSearch() throws {
        let bob = try classify("GET", "/fhir/Patient/pt-bob/MedicationDispense")
        #expect(bob.patients == ["pt-bob"] && bob.compartmentTargetType == "MedicationDispense")
        let mixed = try classify("GET", "/fhir/Patient/pt-alice/MedicationDispense?patient=pt-bob")
        #expect(mixed.patients == ["pt-alice", "pt-bob"])
        // `*` is refused like the router refuses it (one canonical path form; FHIR-05 (c) pinned to 400).
        #expect(refusal("GET", "/fhir/Patient/pt-alice/*")?.status == 400)
        #expect(refusal("GET", "/fhir/Patient/pt-alice/Practitioner")?.status == 400)
        #expect(refusal("GET", "/fhir/Practitioner/prac-1/MedicationRequest")?.status == 403)
    }

    @Test("_format other than JSON and XML bodies are 415 (FHIR-20 (a)(b)(c)(f))")
    func formats() {
        #expect(refusal("GET", "/fhir/MedicationDispense?patient=pt-alice&_format=xml")?.status == 415)
        #expect(refusal("GET", "/fhir/MedicationDispense/md-1?_format=application/fhir%2Bxml")?.status == 415)
        let xml =
            #"<MedicationRequest xmlns="http://hl7.org/fhir"><subject><reference value="Patient/pt-bob"/>"#
            + "</subject></MedicationRequest>"
        #expect(
            refusal("POST", "/fhir/MedicationRequest", contentType: "application/fhir+xml", body: xml)?.status == 415)
        let body = Fixtures.request(id: "mr-9", patient: "pt-alice")
        #expect(refusal("POST", "/fhir/MedicationRequest", contentType: "text/plain", body: body)?.status == 415)
        #expect(refusal("POST", "/fhir/MedicationRequest?_format=xml", body: body)?.status == 415)
        #expect(refusal("POST", "/fhir/MedicationRequest", body: body)?.status == 415)
        #expect(
            refusal(
                "POST", "/fhir/MedicationRequest", contentType: "application/fhir+json; charset=utf-16",
                body: body)?.status == 415)
    }

    @Test("duplicate JSON members and a BOM are 400 (FHIR-20 (d)(e))")
    func strictJSON() {
        let duplicate =
            #"{"resourceType":"MedicationRequest","status":"active","intent":"order","#
            + #""subject":{"reference":"Patient/pt-alice"},"subject":{"reference":"Patient/pt-bob"}}"#
        #expect(
            refusal("POST", "/fhir/MedicationRequest", contentType: "application/fhir+json", body: duplicate)?
                .status == 400)
        let bom = "\u{FEFF}" + Fixtures.request(id: "mr-9", patient: "pt-alice")
        #expect(
            refusal("POST", "/fhir/MedicationRequest", contentType: "application/fhir+json", body: bom)?
                .status == 400)
    }

    @Test("_include and _revinclude add their target types to returnedTypes")
    func includes() throws {
        let search = try classify(
            "GET",
            "/fhir/MedicationDispense?patient=pt-alice&_include=MedicationDispense:performer:Practitioner"
                + "&_include=MedicationDispense:prescription&_revinclude=Provenance:patient")
        // Provenance:patient points at Patient, which this search does not return: it adds nothing.
        #expect(search.returnedTypes == ["MedicationDispense", "Practitioner", "MedicationRequest"])
        let reverse = try classify(
            "GET",
            "/fhir/MedicationRequest?patient=pt-alice"
                + "&_revinclude=MedicationDispense:prescription")
        #expect(reverse.returnedTypes == ["MedicationRequest", "MedicationDispense"])
        let wide = try classify("GET", "/fhir/MedicationRequest?patient=pt-alice&_include=MedicationRequest:requester")
        #expect(wide.returnedTypes.isSuperset(of: ["Practitioner", "Organization", "Patient", "RelatedPerson"]))
        let iterate = try classify(
            "GET",
            "/fhir/MedicationDispense?patient=pt-alice"
                + "&_include=MedicationDispense:prescription&_include:iterate=MedicationRequest:requester:Practitioner")
        #expect(iterate.returnedTypes == ["MedicationDispense", "MedicationRequest", "Practitioner"])
        #expect(refusal("GET", "/fhir/MedicationDispense?patient=pt-alice&_include=*")?.status == 400)
        #expect(refusal("GET", "/fhir/MessageHeader?_include=MessageHeader:focus")?.status == 403)
    }

    @Test("chains through patient references are refused; chains into master data are allowed")
    func chains() throws {
        #expect(refusal("GET", "/fhir/MedicationDispense?patient.name=Otherpatient")?.status == 403)
        #expect(refusal("GET", "/fhir/MedicationDispense?subject:Patient.family=Otherpatient")?.status == 403)
        #expect(refusal("GET", "/fhir/MedicationRequest?patient=pt-alice&requester.name=Carol")?.status == 403)
        let chained = try classify("GET", "/fhir/MedicationDispense?patient=pt-alice&medication.code=1049621")
        #expect(chained.patients == ["pt-alice"])
        #expect(refusal("GET", "/fhir/MedicationDispense?patient=pt-alice&medication.colour=red")?.status == 400)
    }
}

@Suite("Rebuilding the query from parsed parameters")
struct QueryItemsTests {
    @Test("queryItems round-trip keys with modifiers and chains and comma lists")
    func roundTrip() throws {
        let interaction = try classify("GET",
            "/fhir/MedicationDispense?patient=Patient%2Fpt-alice&code:text=oxy&medication.code=1049621"
                + "&status=completed,in-progress")
        let items = interaction.queryItems.map { "\($0.0)=\($0.1)" }
        #expect(items == ["patient=Patient/pt-alice", "code:text=oxy", "medication.code=1049621",
            "status=completed,in-progress"])
    }
}
