import Foundation
import GatewayCore
import Testing

@testable import FHIR

@Suite("Response inspection against the patient compartment (issue #5 items 4, 6, 7)")
struct ResponseInspectorTests {
    static let alice: Set<String> = ["pt-alice"]

    static func inspect(_ body: String, _ interaction: Interaction, allowed: Set<String>? = alice) -> InspectionResult {
        ResponseInspector.inspect(
            body: Array(body.utf8), interaction: interaction, allowedPatients: allowed,
            upstreamBase: Hosts.upstreamBase, publicBase: Hosts.publicBase)
    }

    static func entry(_ resource: String, mode: String = "match") -> String {
        let id = json(resource)["id"]?.stringValue ?? "x"
        let type = json(resource)["resourceType"]?.stringValue ?? "X"
        return #"{"fullUrl":"\#(Hosts.upstreamBase)/\#(type)/\#(id)","resource":\#(resource),"#
            + #""search":{"mode":"\#(mode)"}}"#
    }

    /// An upstream that over-shares: Bob's dispense, an unreferenced Organization and a Bundle ride along.
    static let overSharing = """
        {"resourceType":"Bundle","type":"searchset","total":4,
         "link":[{"relation":"self","url":"\(Hosts.upstreamBase)/MedicationDispense?patient=pt-alice"},
                 {"relation":"next","url":"\(Hosts.upstreamBase)/MedicationDispense?patient=pt-alice&_page=2"},
                 {"relation":"alternate","url":"https://elsewhere.example/fhir/x"}],
         "entry":[\(entry(Fixtures.dispense(id: "md-alice-1", patient: "pt-alice"))),
                  \(entry(Fixtures.dispense(id: "md-bob-1", patient: "pt-bob"))),
                  \(entry(Fixtures.practitioner, mode: "include")),
                  \(entry(#"{"resourceType":"Organization","id":"org-2","name":"Unrelated"}"#, mode: "include")),
                  \(entry(#"{"resourceType":"Bundle","id":"b1","type":"collection"}"#))]}
        """

    @Test("a searchset with another patient's dispense is filtered, noticed, and its total dropped")
    func overSharingSearchset() throws {
        let search = try classify(
            "GET", "/fhir/MedicationDispense?patient=pt-alice&_include=MedicationDispense:performer")
        let result = Self.inspect(Self.overSharing, search)
        #expect(result.verdict == .release && result.withheld == 3)
        let bundle = json(String(decoding: result.body, as: UTF8.self))
        #expect(bundle["total"] == nil)
        let entries = try #require(bundle["entry"]?.arrayValue)
        let ids = entries.compactMap { $0["resource"]?["id"]?.stringValue }
        #expect(ids == ["md-alice-1", "prac-1"])
        #expect(!String(decoding: result.body, as: UTF8.self).contains("pt-bob"))
        let notice = try #require(entries.last)
        #expect(notice["search"]?["mode"]?.stringValue == "outcome")
        #expect(notice["resource"]?["issue"]?.arrayValue?.first?["code"]?.stringValue == "suppressed")
        #expect(result.patientsSeen == ["pt-alice", "pt-bob"] && result.patientsReleased == ["pt-alice"])
    }

    @Test("links and fullUrls are rewritten to the public base; foreign links are dropped")
    func rewriting() throws {
        let search = try classify("GET", "/fhir/MedicationDispense?patient=pt-alice")
        let result = Self.inspect(Self.overSharing, search)
        let bundle = json(String(decoding: result.body, as: UTF8.self))
        let links = try #require(bundle["link"]?.arrayValue).compactMap { $0["url"]?.stringValue }
        #expect(
            links == [
                "\(Hosts.publicBase)/MedicationDispense?patient=pt-alice",
                "\(Hosts.publicBase)/MedicationDispense?patient=pt-alice&_page=2",
            ])
        #expect(
            bundle["entry"]?.arrayValue?.first?["fullUrl"]?.stringValue
                == "\(Hosts.publicBase)/MedicationDispense/md-alice-1")
        #expect(!String(decoding: result.body, as: UTF8.self).contains("fhir-upstream.internal"))
    }

    @Test("nothing is withheld for a clean response, and total stays")
    func clean() throws {
        let body = """
            {"resourceType":"Bundle","type":"searchset","total":1,
             "entry":[\(Self.entry(Fixtures.dispense(id: "md-alice-1", patient: "pt-alice")))]}
            """
        let result = Self.inspect(body, try classify("GET", "/fhir/MedicationDispense?patient=pt-alice"))
        #expect(result.withheld == 0 && json(String(decoding: result.body, as: UTF8.self))["total"] == .number("1"))
    }

    @Test("a read of another patient's dispense is denied exactly like a missing resource (FHIR-02)")
    func readOfOtherPatient() throws {
        let read = try classify("GET", "/fhir/MedicationDispense/md-bob-1")
        let result = Self.inspect(Fixtures.dispense(id: "md-bob-1", patient: "pt-bob"), read)
        #expect(result.verdict == .deny(.accessDenied) && result.body.isEmpty)
        #expect(result.patientsSeen == ["pt-bob"])
        let own = Self.inspect(Fixtures.dispense(id: "md-alice-1", patient: "pt-alice"), read)
        #expect(own.verdict == .release && own.patientsReleased == ["pt-alice"])
        let identifierOnly = #"{"resourceType":"MedicationDispense","subject":{"identifier":{"value":"TEST-0001"}}}"#
        #expect(Self.inspect(identifierOnly, read).verdict == .deny(.accessDenied))
    }

    @Test("master data may be read directly; other non-compartment types may not")
    func masterData() throws {
        let read = try classify("GET", "/fhir/Practitioner/prac-1")
        #expect(Self.inspect(Fixtures.practitioner, read).verdict == .release)
        let task = #"{"resourceType":"Task","id":"t","for":{"reference":"Patient/pt-bob"}}"#
        #expect(Self.inspect(task, try classify("GET", "/fhir/Task/t")).verdict == .deny(.accessDenied))
    }

    @Test("an instance history with a version from another compartment is denied whole (FHIR-10 (e))")
    func historyInstance() throws {
        let history = """
            {"resourceType":"Bundle","type":"history","entry":[
             {"resource":\(Fixtures.request(id: "mr-alice-1", patient: "pt-alice"))},
             {"resource":\(Fixtures.request(id: "mr-alice-1", patient: "pt-bob"))}]}
            """
        let result = Self.inspect(history, try classify("GET", "/fhir/MedicationRequest/mr-alice-1/_history"))
        #expect(result.verdict == .deny(.accessDenied))
    }

    @Test("unparseable upstream bodies are never relayed")
    func unparseable() throws {
        let result = Self.inspect("<Bundle/>", try classify("GET", "/fhir/MedicationDispense?patient=pt-alice"))
        #expect(result.verdict == .deny(ResponseInspector.uninspectable) && result.body.isEmpty)
    }

    @Test("system tokens: nothing is withheld, URLs are still rewritten, patients are reported")
    func unrestricted() throws {
        let search = try classify("GET", "/fhir/MedicationDispense?code=x|1")
        let result = Self.inspect(Self.overSharing, search, allowed: nil)
        #expect(result.withheld == 0 && result.patientsSeen == ["pt-alice", "pt-bob"])
        #expect(!String(decoding: result.body, as: UTF8.self).contains("fhir-upstream.internal"))
    }

    static let pdmpResult = """
        {"resourceType":"Parameters","parameter":[{"name":"pdmp-history-data","resource":
         {"resourceType":"Bundle","type":"collection","entry":[
          {"fullUrl":"urn:uuid:p1","resource":{"resourceType":"Patient","id":"pdmp-7",
            "name":[{"family":"Testpatient"}]}},
          {"fullUrl":"urn:uuid:d1","resource":{"resourceType":"MedicationDispense","id":"d1",
            "subject":{"reference":"urn:uuid:p1"},"performer":[{"actor":{"reference":"urn:uuid:o1"}}]}},
          {"fullUrl":"urn:uuid:d2","resource":{"resourceType":"MedicationDispense","id":"d2",
            "subject":{"reference":"Patient/pdmp-7"}}},
          {"fullUrl":"urn:uuid:d3","resource":{"resourceType":"MedicationDispense","id":"d3",
            "subject":{"reference":"Patient/someone-else"}}},
          {"fullUrl":"urn:uuid:o1","resource":{"resourceType":"Organization","id":"o1","name":"Test Pharmacy One"}}
         ]}}]}
        """

    @Test("a $pdmp-history result keeps only resources that reference its Patients, and says so")
    func pdmpHistory() throws {
        let request = try classify(
            "POST", "/fhir/$pdmp-history", contentType: "application/fhir+json",
            body: PDMPHistoryTests.parameters)
        let result = Self.inspect(Self.pdmpResult, request, allowed: nil)
        #expect(result.verdict == .release && result.withheld == 1)
        #expect(result.patientsSeen == ["pdmp-7", "someone-else"] && result.patientsReleased == ["pdmp-7"])
        let parameters = json(String(decoding: result.body, as: UTF8.self))
        let items = try #require(parameters["parameter"]?.arrayValue)
        let ids = items[0]["resource"]?["entry"]?.arrayValue?.compactMap { $0["resource"]?["id"]?.stringValue }
        #expect(ids == ["pdmp-7", "d1", "d2", "o1"])
        #expect(items.last?["name"]?.stringValue == "outcome")
    }

    @Test("a $process-message answer: entries with unknown members or contained resources are withheld")
    func processMessageSmuggling() throws {
        let request = try classify(
            "POST", "/fhir/$pdmp-history", contentType: "application/fhir+json", body: PDMPHistoryTests.parameters)
        var message = request
        message.operation = "process-message"
        let bob = #"{"resourceType":"MedicationDispense","id":"md-bob","subject":{"reference":"Patient/pt-bob"}}"#
        let answer = """
            {"resourceType":"Bundle","type":"message","entry":[
             {"fullUrl":"urn:uuid:h","resource":{"resourceType":"MessageHeader","id":"h"}},
             {"fullUrl":"urn:uuid:x","resource":{"resourceType":"MessageHeader","id":"x","contained":[\(bob)]}},
             {"fullUrl":"urn:uuid:o","resource":{"resourceType":"OperationOutcome","issue":[]},"hidden":\(bob)},
             {"fullUrl":"urn:uuid:r","resource":\(Self.pdmpResult)}]}
            """
        let result = Self.inspect(answer, message, allowed: nil)
        #expect(result.verdict == .release)
        let text = String(decoding: result.body, as: UTF8.self)
        #expect(!text.contains("pt-bob") && text.contains("urn:uuid:h") && text.contains("pdmp-7"))
        let smuggled = answer.replacingOccurrences(of: #""type":"message","#, with: #""type":"message","x":\#(bob),"#)
        #expect(Self.inspect(smuggled, message, allowed: nil).verdict == .deny(ResponseInspector.uninspectable))
    }

    @Test("a 1 MB searchset is inspected (debug build; the 5 ms target is for release builds)")
    func largeSearchset() throws {
        var entries: [String] = []
        var size = 0
        var index = 0
        while size < 1_000_000 {
            let entry = Self.entry(
                Fixtures.dispense(id: "md-\(index)", patient: index % 10 == 0 ? "pt-bob" : "pt-alice"))
            size += entry.utf8.count
            entries.append(entry)
            index += 1
        }
        let body = #"{"resourceType":"Bundle","type":"searchset","entry":["# + entries.joined(separator: ",") + "]}"
        let search = try classify("GET", "/fhir/MedicationDispense?patient=pt-alice")
        let clock = ContinuousClock()
        var result: InspectionResult?
        let elapsed = clock.measure { result = Self.inspect(body, search) }
        #expect(result?.withheld == (index + 9) / 10)
        #expect(elapsed < .seconds(5))
    }
}

@Suite("Upstream errors and paging links for patient-context tokens")
struct UpstreamAnswerTests {
    @Test("a missing or deleted read target answers exactly like a forbidden one (FHIR-01/02)")
    func notFoundLooksForbidden() throws {
        let read = try classify("GET", "/fhir/MedicationDispense/md-none")
        #expect(ResponseInspector.replacement(forUpstreamStatus: 404, interaction: read) == .accessDenied)
        #expect(ResponseInspector.replacement(forUpstreamStatus: 410, interaction: read) == .accessDenied)
        #expect(ResponseInspector.replacement(forUpstreamStatus: 500, interaction: read) == nil)
        let search = try classify("GET", "/fhir/MedicationDispense?patient=pt-alice")
        #expect(ResponseInspector.replacement(forUpstreamStatus: 404, interaction: search) == nil)
        #expect(OperationOutcome.make(for: FHIRRequestError.accessDenied)
            == OperationOutcome.make(for: ResponseInspector.replacement(forUpstreamStatus: 404, interaction: read)!))
    }

    @Test("the upstream's next link, rewritten, is classified again and re-checked (sekmet pages by _offset)")
    func nextPageIsRechecked() throws {
        let next = "/fhir/MedicationDispense?patient=Patient%2Fpt-alice&_include=MedicationDispense%3Aperformer"
            + "&_count=10&_offset=10"
        let page = try classify("GET", next)
        #expect(page.patients == ["pt-alice"])
        #expect(CompartmentCheck.requestDecision(page, allowedPatients: ["pt-alice"]) == .allowed(.checkResponse))
        let tampered = next.replacingOccurrences(of: "pt-alice", with: "pt-bob")
        let other = try classify("GET", tampered)
        #expect(CompartmentCheck.requestDecision(other, allowedPatients: ["pt-alice"]) == .denied(.accessDenied))
        #expect(refusal("GET", "/fhir/MedicationDispense?patient=pt-alice&_offset=-1")?.status == 400)
    }
}

@Suite("Bodies that need no filtering")
struct PassThroughTests {
    @Test("an empty write response is released as is; the CapabilityStatement gets the public base")
    func passThrough() throws {
        let create = try classify("POST", "/fhir/MedicationDispense", contentType: "application/fhir+json",
            body: Fixtures.dispense(id: "md-9", patient: "pt-alice"))
        let empty = ResponseInspector.inspect(body: [], interaction: create, allowedPatients: ["pt-alice"],
            upstreamBase: Hosts.upstreamBase, publicBase: Hosts.publicBase)
        #expect(empty.verdict == .release && empty.body.isEmpty)
        let statement = #"{"resourceType":"CapabilityStatement","status":"active","kind":"instance","#
            + #""implementation":{"description":"up","url":"\#(Hosts.upstreamBase)"}}"#
        let result = ResponseInspector.inspect(body: Array(statement.utf8),
            interaction: try classify("GET", "/fhir/metadata"), allowedPatients: nil,
            upstreamBase: Hosts.upstreamBase, publicBase: Hosts.publicBase)
        #expect(json(String(decoding: result.body, as: UTF8.self))["implementation"]?["url"]?.stringValue
            == Hosts.publicBase)
    }
}
