import GatewayCore
import Testing

@_spi(Benchmark) @testable import FHIR

/// Bundles are inspected on a byte index and written by copying the kept entries (issue #5, performance);
/// the tree inspection is the reference. Every case asserts that both paths decide the same (verdict,
/// withheld count, patients seen and released) and that the spliced body parses to the tree body.
@Suite("Spliced Bundle inspection decides exactly like the tree inspection")
struct SplicedInspectionTests {
    static let alice: Set<String> = ["pt-alice"]

    struct Outcome {
        var tree: InspectionResult
        var spliced: InspectionResult
        /// The spliced body parsed (nil when empty).
        var body: JSONValue?
    }

    /// Inspects on both paths and checks that they agree; returns both for further checks.
    @discardableResult
    static func both(
        _ body: String, _ interaction: Interaction, allowed: Set<String>? = alice, constraints: [SearchParameter] = [],
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> Outcome {
        func run(_ splicing: Bool) -> InspectionResult {
            ResponseInspector.inspect(
                body: Array(body.utf8), interaction: interaction, allowedPatients: allowed,
                upstreamBase: Hosts.upstreamBase, publicBase: Hosts.publicBase, scopeConstraints: constraints,
                splicing: splicing)
        }
        let (tree, spliced) = (run(false), run(true))
        #expect(tree.verdict == spliced.verdict, sourceLocation: sourceLocation)
        #expect(tree.withheld == spliced.withheld, sourceLocation: sourceLocation)
        #expect(tree.patientsSeen == spliced.patientsSeen, sourceLocation: sourceLocation)
        #expect(tree.patientsReleased == spliced.patientsReleased, sourceLocation: sourceLocation)
        let parsed = spliced.body.isEmpty ? nil : try? JSONValue.parse(spliced.body)
        let reference = tree.body.isEmpty ? nil : try? JSONValue.parse(tree.body)
        #expect(parsed == reference, sourceLocation: sourceLocation)
        #expect(spliced.body.isEmpty == tree.body.isEmpty, sourceLocation: sourceLocation)
        return Outcome(tree: tree, spliced: spliced, body: parsed)
    }

    static func search() throws -> Interaction {
        try classify("GET", "/fhir/MedicationDispense?patient=pt-alice&_include=MedicationDispense:performer")
    }

    static func entry(_ resource: String, fullUrl: String? = nil, extra: String = "") -> String {
        let url = fullUrl.map { #""fullUrl":"\#($0)","# } ?? ""
        return "{" + url + #""resource":"# + resource + extra + "}"
    }

    static func bundle(_ entries: [String], type: String = "searchset", extra: String = "") -> String {
        #"{"resourceType":"Bundle","type":"\#(type)","total":\#(entries.count),"#
            + #""link":[{"relation":"self","url":"\#(Hosts.upstreamBase)/MedicationDispense?patient=pt-alice"},"#
            + #"{"relation":"next","url":"https://elsewhere.example/fhir/x"}],"#
            + #""entry":["# + entries.joined(separator: ",") + "]" + extra + "}"
    }

    static let alice1 = Fixtures.dispense(id: "md-alice-1", patient: "pt-alice")
    static let bob1 = Fixtures.dispense(id: "md-bob-1", patient: "pt-bob")

    @Test("the over-sharing searchset: same entries kept, notice added, total dropped, URLs rewritten")
    func overSharing() throws {
        let body = Self.bundle([
            Self.entry(Self.alice1, fullUrl: Hosts.upstreamBase + "/MedicationDispense/md-alice-1"),
            Self.entry(Self.bob1, fullUrl: Hosts.upstreamBase + "/MedicationDispense/md-bob-1"),
            Self.entry(Fixtures.practitioner, fullUrl: Hosts.upstreamBase + "/Practitioner/prac-1"),
            Self.entry(#"{"resourceType":"Organization","id":"org-2"}"#),
            Self.entry(#"{"resourceType":"Bundle","id":"b1","type":"collection"}"#),
        ])
        let outcome = Self.both(body, try Self.search())
        #expect(outcome.spliced.withheld == 3 && outcome.body?["total"] == nil)
        let ids = outcome.body?["entry"]?.arrayValue?.compactMap { $0["resource"]?["id"]?.stringValue }
        #expect(ids == ["md-alice-1", "prac-1"])
        #expect(!String(decoding: outcome.spliced.body, as: UTF8.self).contains("fhir-upstream.internal"))
        #expect(!String(decoding: outcome.spliced.body, as: UTF8.self).contains("pt-bob"))
        // Unrestricted (system token): everything kept, URLs still rewritten.
        let system = Self.both(body, try Self.search(), allowed: nil)
        #expect(system.spliced.withheld == 0 && system.body?["total"] == .number("5"))
    }

    @Test(
        "escaped and unicode-escaped references, keys and URLs are read as decoded",
        arguments: [
            #"{"reference":"Patient\/pt-bob"}"#, #"{"reference":"Patient/pt-\u0062ob"}"#,
            #"{"refer\u0065nce":"Patient/pt-bob"}"#, #"{"reference":"http:\/\/fhir-upstream.internal:8080\/fhir\/Patient\/pt-bob"}"#,
            #"{"reference":"Patient/pt-alice"}"#, #"{"reference":"Patient\/pt-\u0061lice"}"#,
            #"{"reference":"https://elsewhere.example/fhir/Patient/pt-alice"}"#, #"{"identifier":{"value":"x"}}"#,
            #"{"reference":"urn:uuid:0b3c"}"#, ##"{"reference":"#p1"}"##, #"{"type":"Group","reference":"Group/g"}"#,
            #"{"reference":"Patient/pt-alice/_history/2"}"#, #"{"reference":"Patient/pt-é"}"#, #"{"reference":5}"#,
        ])
    func escapedReferences(subject: String) throws {
        let resource = #"{"resourceType":"MedicationDispense","id":"md-x","subject":"# + subject
            + #","contained":[{"resourceType":"Patient","id":"p1"}]}"#
        let url = #"http:\/\/fhir-upstream.internal:8080\/fhir\/MedicationDispense\/md-x"#
        let body = Self.bundle([Self.entry(resource, fullUrl: url), Self.entry(Self.alice1)])
        let outcome = Self.both(body, try Self.search())
        let decoded = (try? JSONValue.parse(subject))?["reference"]?.stringValue ?? ""
        if decoded.hasSuffix("pt-bob") {
            #expect(outcome.spliced.withheld == 1)
        }
    }

    @Test("hostile documents: duplicate keys (plain or escaped) anywhere and too-deep nesting are refused alike")
    func hostileDocuments() throws {
        let duplicates = [
            #"{"resourceType":"MedicationDispense","subject":{"reference":"Patient/pt-alice","reference":"Patient/pt-bob"}}"#,
            #"{"resourceType":"MedicationDispense","subject":{"reference":"Patient/pt-alice","refer\u0065nce":"Patient/pt-bob"}}"#,
            #"{"resourceType":"MedicationDispense","subject":{"reference":"Patient/pt-alice"},"subject":{"reference":"Patient/pt-bob"}}"#,
        ]
        for resource in duplicates {
            let outcome = Self.both(Self.bundle([Self.entry(resource)]), try Self.search())
            #expect(outcome.spliced.verdict == .deny(ResponseInspector.uninspectable))
        }
        let topLevel = #"{"resourceType":"Bundle","type":"searchset","entry":[],"entry":[]}"#
        #expect(Self.both(topLevel, try Self.search()).spliced.verdict == .deny(ResponseInspector.uninspectable))
        for depth in [50, 58, 59, 60, 61, 70] {
            let nested = String(repeating: #"{"extension":["#, count: depth / 2) + "1"
                + String(repeating: "]}", count: depth / 2)
            let resource = #"{"resourceType":"MedicationDispense","subject":{"reference":"Patient/pt-alice"},"x":"#
                + nested + "}"
            Self.both(Self.bundle([Self.entry(resource)]), try Self.search())
        }
        let kelvin = "{\"resourceType\":\"MedicationDispense\",\"K\":1,\"\u{212A}\":2}"
        Self.both(Self.bundle([Self.entry(kelvin)]), try Self.search())
    }

    @Test("contained Patients, master data chains and non-object entries")
    func shapes() throws {
        let containedPatient =
            #"{"resourceType":"MedicationDispense","id":"c","contained":[{"resourceType":"Patient","id":"p"}],"#
            + ##""subject":{"reference":"#p"}}"##
        let request = Fixtures.request(id: "mr-alice-1", patient: "pt-alice")
        let dispense = Fixtures.dispense(
            id: "md-alice-2", patient: "pt-alice", extra: #","receiver":[{"reference":"Practitioner/prac-1"}]"#)
        let organization = #"{"resourceType":"Organization","id":"org-1"}"#
        let practitionerRole = #"{"resourceType":"PractitionerRole","id":"r","organization":{"reference":"Organization/org-1"}}"#
        let body = Self.bundle([
            Self.entry(containedPatient), Self.entry(dispense), Self.entry(request),
            Self.entry(practitionerRole, fullUrl: Hosts.upstreamBase + "/PractitionerRole/r"),
            Self.entry(organization), Self.entry(Fixtures.practitioner), "5", "null", #"{"search":{"mode":"match"}}"#,
            Self.entry(Fixtures.patient("pt-alice", family: "A")), Self.entry(Fixtures.patient("pt-bob", family: "B")),
        ])
        Self.both(body, try Self.search())
        Self.both(body, try Self.search(), allowed: nil)
        Self.both(body, try Self.search(), allowed: ["pt-bob"])
        Self.both(body, try classify("GET", "/fhir/MedicationDispense?patient=pt-alice"), allowed: [])
    }

    @Test("Bundle envelopes: no entry, entry not an array, empty entries, other members kept in order")
    func envelopes() throws {
        for body in [
            #"{"resourceType":"Bundle","type":"searchset","total":0}"#,
            #"{"resourceType":"Bundle","type":"searchset","entry":5,"total":0}"#,
            #"{"resourceType":"Bundle","type":"searchset","entry":[],"link":5}"#,
            #"{"resourceType":"Bundle","id":"b","meta":{"lastUpdated":"2026-01-01T00:00:00Z"},"type":"searchset","#
                + #""total":2,"entry":[\#(Self.entry(Self.bob1))],"signature":{"data":"x"},"link":[]}"#,
            #"{ "resourceType" : "Bundle" , "entry" : [ \#(Self.entry(Self.alice1)) , \#(Self.entry(Self.bob1)) ] }"#,
        ] {
            Self.both(body, try Self.search())
        }
    }

    @Test("batch and transaction responses keep their shape: withheld entries become 403s, locations rewritten")
    func batchResponses() throws {
        let entries = [
            #"{"resource":\#(Self.alice1),"response":{"status":"200 OK","location":"\#(Hosts.upstreamBase)/MedicationDispense/md-alice-1/_history/1"}}"#,
            #"{"resource":\#(Self.bob1),"response":{"status":"200 OK"}}"#,
            #"{"response":{"status":"404 Not Found","location":"https://elsewhere.example/x"}}"#,
            #"{"response":{"status":"201 Created","location":"MedicationDispense/9"}}"#,
        ]
        let batch = try classify(
            "POST", "/fhir", contentType: "application/fhir+json",
            body: #"{"resourceType":"Bundle","type":"batch","entry":[]}"#)
        for type in ["batch-response", "transaction-response"] {
            let outcome = Self.both(Self.bundle(entries, type: type), batch)
            #expect(outcome.body?["entry"]?.arrayValue?.count == 4 && outcome.spliced.withheld == 1)
        }
    }

    @Test("an instance history with another patient's version is denied on both paths (FHIR-10 (e))")
    func history() throws {
        let history = Self.bundle(
            [Self.entry(Fixtures.request(id: "m", patient: "pt-alice")), Self.entry(Fixtures.request(id: "m", patient: "pt-bob"))],
            type: "history")
        let outcome = Self.both(history, try classify("GET", "/fhir/MedicationRequest/m/_history"))
        #expect(outcome.spliced.verdict == .deny(.accessDenied))
    }

    @Test("granular scope constraints withhold the same entries")
    func constraints() throws {
        let search = try classify("GET", "/fhir/MedicationRequest?patient=pt-alice")
        let body = Self.bundle([
            Self.entry(Fixtures.request(id: "a", patient: "pt-alice")),
            Self.entry(Fixtures.request(id: "b", patient: "pt-alice", category: "inpatient")),
        ])
        let constraint = [SearchParameter(name: "category", values: ["outpatient"])]
        let outcome = Self.both(body, search, constraints: constraint)
        #expect(outcome.spliced.withheld == 1)
    }

    @Test("randomly composed Bundles are decided alike (deterministic)")
    func randomBundles() throws {
        var state: UInt64 = 0x5EED
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        let patients = ["pt-alice", "pt-bob", "pt-\\u0061lice", "pt-carol"]
        let pieces: [(String) -> String] = [
            { Fixtures.dispense(id: "md-\(next(99))", patient: $0) },
            { Fixtures.request(id: "mr-\(next(99))", patient: $0) },
            { _ in Fixtures.practitioner },
            { _ in #"{"resourceType":"Organization","id":"org-\#(next(3))"}"# },
            { _ in #"{"resourceType":"Medication","id":"med-1"}"# },
            { Fixtures.patient($0, family: "F") },
            { #"{"resourceType":"Observation","id":"o","subject":{"reference":"Patient/\#($0)"},"performer":[{"reference":"Practitioner/prac-1"}]}"# },
            { #"{"resourceType":"MedicationDispense","id":"x","subject":{"reference":"\#(Hosts.publicBase)/Patient/\#($0)"},"performer":[{"actor":{"reference":"Organization/org-1"}}]}"# },
        ]
        let search = try Self.search()
        for _ in 0..<150 {
            let entries = (0..<next(12)).map { _ -> String in
                let patient = patients[next(patients.count)]
                let resource = pieces[next(pieces.count)](patient)
                let url = [nil, Hosts.upstreamBase + "/X/\(next(9))", "urn:uuid:\(next(9))", Hosts.publicBase + "/Y/1"][next(4)]
                return Self.entry(resource, fullUrl: url)
            }
            let body = Self.bundle(entries, type: ["searchset", "history", "collection"][next(3)])
            let allowed: Set<String>? = [nil, ["pt-alice"], ["pt-bob", "pt-alice"], []][next(4)]
            Self.both(body, search, allowed: allowed)
        }
    }

    @Test("the paging links of a compartment search stay in the compartment (sekmet drops it)")
    func compartmentPaging() throws {
        let search = try classify("GET", "/fhir/Patient/pt-alice/MedicationDispense?_count=1")
        let body = #"{"resourceType":"Bundle","type":"searchset","link":["#
            + #"{"relation":"self","url":"\#(Hosts.upstreamBase)/MedicationDispense?_count=1&_offset=0"},"#
            + #"{"relation":"next","url":"\#(Hosts.upstreamBase)/MedicationDispense?_count=1&_offset=1"},"#
            + #"{"relation":"last","url":"\#(Hosts.upstreamBase)/MedicationDispense"},"#
            + #"{"relation":"other","url":"\#(Hosts.upstreamBase)/MedicationRequest?_offset=1"},"#
            + #"{"relation":"x","url":"MedicationDispense?_offset=2"}],"entry":[\#(Self.entry(Self.alice1))]}"#
        let outcome = Self.both(body, search)
        let links = outcome.body?["link"]?.arrayValue?.compactMap { $0["url"]?.stringValue }
        #expect(
            links == [
                Hosts.publicBase + "/Patient/pt-alice/MedicationDispense?_count=1&_offset=0",
                Hosts.publicBase + "/Patient/pt-alice/MedicationDispense?_count=1&_offset=1",
                Hosts.publicBase + "/Patient/pt-alice/MedicationDispense",
                Hosts.publicBase + "/MedicationRequest?_offset=1",
                "Patient/pt-alice/MedicationDispense?_offset=2",
            ])
        // The restored link is an ordinary compartment search, checked against the token again.
        let followed = try classify("GET", "/fhir/Patient/pt-alice/MedicationDispense?_count=1&_offset=1")
        #expect(CompartmentCheck.requestDecision(followed, allowedPatients: Self.alice).isAllowed)
        let altered = try classify("GET", "/fhir/Patient/pt-bob/MedicationDispense?_count=1&_offset=1")
        #expect(!CompartmentCheck.requestDecision(altered, allowedPatients: Self.alice).isAllowed)
    }

    @Test("resources smuggled past the entry's resource are withheld alike; a Bundle with foreign members is 502")
    func smuggled() throws {
        func dispense(_ id: String, _ extra: String) -> String {
            #"{"resourceType":"MedicationDispense","id":"\#(id)","subject":{"reference":"Patient/pt-alice"}\#(extra)}"#
        }
        let entries = [
            Self.entry(dispense("c1", #","contained":[\#(Self.bob1)]"#)),
            Self.entry(dispense("c2", #","contained":[{"resourceType":"Patient","id":"p"}]"#)),
            Self.entry(dispense("c3", #","contained":{"resourceType":"Medication","id":"m"}"#)),
            Self.entry(dispense("c4", #","contained":[{"resourceType":"Medication","id":"m","contained":[]}]"#)),
            Self.entry(dispense("c5", #","performer":[{"actor":{"reference":"Patient/pt-bob"}}]"#)),
            Self.entry(#"{"resourceType":"Medication\u212Anowledge","id":"k"}"#),
            Self.entry(dispense("o1", ""), extra: #","response":{"status":"200","outcome":\#(Self.bob1)}"#),
            Self.entry(dispense("o2", ""), extra: #","other":\#(Self.bob1)"#),
            Self.entry(dispense("o3", ""), extra: #","search":{"mode":"match","resource":\#(Self.bob1)}"#),
            Self.entry(dispense("ok", #","contained":[{"resourceType":"Medication","id":"m"}]"#)),
        ]
        let outcome = Self.both(Self.bundle(entries), try Self.search())
        #expect(outcome.spliced.withheld == entries.count - 1)
        #expect(!String(decoding: outcome.spliced.body, as: UTF8.self).contains("bob"))
        Self.both(Self.bundle(entries, type: "batch-response"), try Self.search())
        Self.both(Self.bundle(entries), try Self.search(), allowed: nil)
        // The token's own Patient, with another patient's record inside, read directly.
        let patient = #"{"resourceType":"Patient","id":"pt-alice","contained":[\#(Self.bob1)]}"#
        let read = try classify("GET", "/fhir/Patient/pt-alice")
        #expect(Self.both(patient, read).spliced.verdict == .deny(.accessDenied))
        let kelvin = #"{"resourceType":"Patient","id":"pt-\u212Aelvin"}"#
        #expect(Self.both(kelvin, read, allowed: ["pt-Kelvin"]).spliced.verdict == .deny(.accessDenied))
        for extra in [#","contained":[\#(Self.bob1)]"#, #","text":{"div":"bob"}"#] {
            let refused = Self.both(Self.bundle([], extra: extra), try Self.search())
            #expect(refused.spliced.verdict == .deny(ResponseInspector.uninspectable))
        }
    }
}
