// An upstream whose responses are shaped to slip another patient's data past the byte-index inspection
// (issue #5 item 4; attack-cases.md FHIR-02, FHIR-20 applied to responses): escaped and absolute reference
// forms, resources hidden in `contained`, in `entry.response.outcome`, in non-object entries or in members
// a Bundle does not have, duplicate keys, invalid UTF-8 and deep nesting. Whatever the gateway cannot decide
// exactly fails closed: the entry is withheld, the read is the 403 of a missing id, or the response is 502.
// Every test asks through the running gateway for pt-alice and checks that nothing of pt-bob comes out.

import Foundation
import GatewayCore
import GatewayTesting
import Testing

@Suite("A hostile upstream response")
struct FHIRHostileResponseTests {
    let gw = FHIRGateways.sample
    static let search = "/fhir/Patient/pt-alice/MedicationDispense"

    /// A dispense of pt-alice with `subject` written as `subject` (a JSON text) and optional extra members.
    static func dispense(_ id: String, subject: String, extra: String = "") -> String {
        #"{"resourceType":"MedicationDispense","id":"\#(id)","status":"completed","#
            + #""medicationCodeableConcept":{"text":"oxycodone"},"subject":\#(subject)\#(extra)}"#
    }

    static let alice = #"{"reference":"Patient/pt-alice"}"#
    static let bob = Fixtures.dispense("md-bob-9", patient: "pt-bob")

    /// Serves a searchset of the given entries (JSON texts) and asks for it as pt-alice. The suites sharing
    /// the gateway run in parallel, so each search has a target of its own: a `_count` nobody else uses.
    func search(_ entries: [String], count: Int, extra: String = "") throws -> Exchanged {
        let body =
            #"{"resourceType":"Bundle","type":"searchset"\#(extra),"entry":[\#(entries.joined(separator: ","))]}"#
        let target = Self.search + "?_count=\(count)"
        try serve(target: target, bytes: Array(body.utf8))
        let result = try gw.send("GET", target, bearer: Tokens.patient(gw))
        #expect(result.upstream.map(\.target) == [target])
        return result
    }

    static func entry(_ resource: String) -> String { #"{"resource":\#(resource),"search":{"mode":"match"}}"# }

    /// The ids of the released entries' resources (the withheld notice excluded).
    static func releasedIDs(_ result: Exchanged) -> [String] {
        (result.json?["entry"]?.arrayValue ?? []).compactMap { entry in
            entry["resource"]?["resourceType"] == "OperationOutcome" ? nil : entry["resource"]?["id"]?.stringValue
        }
    }

    func expectNoBob(_ result: Exchanged, _ comment: Comment? = nil) {
        #expect(!result.response.text.contains("pt-bob"), comment)
        #expect(!result.response.text.contains("md-bob"), comment)
    }

    @Test("reference forms: escaped, unicode-escaped, versioned, absolute, urn:uuid, foreign; only pt-alice's pass")
    func referenceForms() throws {
        let base = gw.upstreamBase
        let released = [
            ("a1", #"{"reference":"Patient\/pt-alice"}"#),
            ("a2", #"{"reference":"\u0050atient/pt-\u0061lice"}"#),
            ("a3", #"{"reference":"Patient/pt-alice/_history/2"}"#),
            ("a4", #"{"reference":"\#(base)/Patient/pt-alice"}"#),
            ("a5", #"{"reference":"\#(gw.fhirBase)/Patient/pt-alice"}"#),
        ]
        let withheld = [
            ("b1", #"{"reference":"Patient\/pt-bob"}"#),
            ("b2", #"{"reference":"\u0050atient\u002fpt-bob"}"#),
            ("b3", #"{"reference":"Patient/pt-bob/_history/1"}"#),
            ("b4", #"{"reference":"\#(base)/Patient/pt-bob"}"#),
            ("b5", #"{"reference":"urn:uuid:8c2b9a55-3f1e-4f5e-9d0c-2b6f0e7f5a11"}"#),
            ("b6", #"{"reference":"https://other.example/fhir/Patient/pt-alice"}"#),
            ("b7", #"{"reference":"Patient/pt-alice/../pt-bob"}"#),
            ("b8", #"{"reference":"Patient/pt-alice?x=Patient/pt-bob"}"#),
            ("b9", #"{"identifier":{"system":"urn:ssn","value":"123"}}"#),
            ("b10", #"{"reference":"Patient/pt-alice","type":"Patient"},"performer":[{"actor":{"reference":"Patient/pt-bob"}}]"#),
        ]
        let entries = (released + withheld).map { Self.entry(Self.dispense("md-" + $0.0, subject: $0.1)) }
        let result = try search(entries, count: 9001)
        #expect(result.status == 200)
        #expect(Self.releasedIDs(result) == released.map { "md-" + $0.0 })
        expectNoBob(result)
        #expect(!result.response.text.contains("urn:uuid") && !result.response.text.contains("other.example"))
    }

    @Test("another patient's data hidden in contained: withheld from a searchset, a read is the 403 of a missing id")
    func contained() throws {
        let hidden = [
            // Not referenced by the container: FHIR says it must be, a client still shows it.
            ("c1", #","contained":[\#(Self.bob)]"#),
            ("c2", #","contained":[{"resourceType":"Patient","id":"p","name":[{"family":"Bob"}]}]"#),
            // A contained resource that names another patient, or one the gateway cannot resolve.
            ("c3", #","contained":[{"resourceType":"Observation","id":"o","subject":{"reference":"Patient/pt-bob"}}]"#),
            ("c4", #","contained":[{"resourceType":"Observation","id":"o","subject":{"reference":"urn:uuid:x"}}]"#),
            // Nested contained (dom-2), a contained Bundle, and `contained` that is not an array.
            ("c5", #","contained":[{"resourceType":"Medication","id":"m","contained":[\#(Self.bob)]}]"#),
            ("c6", #","contained":[{"resourceType":"Bundle","id":"b","entry":[{"resource":\#(Self.bob)}]}]"#),
            ("c7", #","contained":\#(Self.bob)"#),
            ("c8", #","contained":[{"id":"x","subject":{"reference":"Patient/pt-bob"}}]"#),
        ]
        let fine = #","contained":[{"resourceType":"Medication","id":"m","code":{"text":"oxycodone"}}]"#
        var entries = hidden.map { Self.entry(Self.dispense("md-" + $0.0, subject: Self.alice, extra: $0.1)) }
        entries.append(Self.entry(Self.dispense("md-ok", subject: Self.alice, extra: fine)))
        let result = try search(entries, count: 9002)
        #expect(result.status == 200)
        #expect(Self.releasedIDs(result) == ["md-ok"])
        expectNoBob(result)
        #expect(!result.response.text.contains("Bob"))

        // The same container read by id: denied exactly like an id that does not exist.
        let token = try Tokens.patient(gw)
        try gw.serve(
            path: "/fhir/MedicationDispense/md-c1",
            body: Self.dispense("md-c1", subject: Self.alice, extra: hidden[0].1))
        try gw.serve(path: "/fhir/MedicationDispense/md-none", status: 404, body: Fixtures.notFound)
        let read = try gw.send("GET", "/fhir/MedicationDispense/md-c1", bearer: token)
        let missing = try gw.send("GET", "/fhir/MedicationDispense/md-none", bearer: token)
        #expect(read.status == 403)
        #expect(read.response.body == missing.response.body)
        // The token's own Patient with another patient's dispense contained in it.
        try gw.serve(
            path: "/fhir/Patient/pt-alice",
            body: #"{"resourceType":"Patient","id":"pt-alice","contained":[\#(Self.bob)]}"#)
        let own = try gw.send("GET", "/fhir/Patient/pt-alice", bearer: token)
        #expect(own.status == 403)
        expectNoBob(own)
        // An error answer whose OperationOutcome contains another patient's dispense.
        try gw.serve(
            path: "/fhir/MedicationDispense/md-oo", status: 500,
            body: #"{"resourceType":"OperationOutcome","contained":[\#(Self.bob)],"issue":[]}"#)
        let failed = try gw.send("GET", "/fhir/MedicationDispense/md-oo", bearer: token)
        #expect(failed.status >= 400)
        expectNoBob(failed)
    }

    @Test("entries without a resourceType, non-object entries and members a Bundle has not are not relayed")
    func shapes() throws {
        let noType = #"{"id":"md-notype","subject":{"reference":"Patient/pt-bob"},"status":"completed"}"#
        let entries = [
            Self.entry(noType),
            Self.entry(#"{"resourceType":"MedicationDispense","subject":{"reference":"Patient/pt-alice"},"id":5}"#),
            #"[\#(Self.entry(Self.bob))]"#, "5", #""md-bob-str""#,
            // The entry's own members: a resource where an outcome goes, a member entries do not have.
            #"{"resource":\#(Self.dispense("md-o", subject: Self.alice)),"response":{"status":"200","outcome":\#(Self.bob)}}"#,
            #"{"resource":\#(Self.dispense("md-x", subject: Self.alice)),"hidden":\#(Self.bob)}"#,
            // A paging-style link carrying a resource.
            #"{"resource":\#(Self.dispense("md-l", subject: Self.alice)),"link":[{"relation":"x","url":"u","resource":\#(Self.bob)}]}"#,
            Self.entry(Self.dispense("md-ok", subject: Self.alice)),
        ]
        let result = try search(entries, count: 9003)
        #expect(result.status == 200)
        #expect(Self.releasedIDs(result) == ["md-ok"])
        expectNoBob(result)

        // A member the R4 Bundle does not have: the response is not relayed at all.
        let foreign = [(9004, #","contained":[\#(Self.bob)]"#), (9005, #","entries":[\#(Self.entry(Self.bob))]"#)]
        for (count, extra) in foreign {
            let smuggled = try search(
                [Self.entry(Self.dispense("md-ok", subject: Self.alice))], count: count, extra: extra)
            #expect(smuggled.status == 502)
            expectNoBob(smuggled)
        }
        // Members of Bundle.link other than relation and url are dropped.
        let linked = try search(
            [Self.entry(Self.dispense("md-ok", subject: Self.alice))], count: 9006,
            extra: #","link":[{"relation":"self","url":"\#(gw.upstreamBase)/x","resource":\#(Self.bob)}]"#)
        #expect(linked.status == 200)
        expectNoBob(linked)
    }

    @Test("a batch-response entry hiding another patient's resource in its outcome becomes a 403 entry")
    func batchOutcome() throws {
        let gw = FHIRGateways.open
        let answer =
            #"{"resourceType":"Bundle","type":"batch-response","entry":[{"response":{"status":"200 OK","#
            + #""outcome":\#(Self.bob)}},[\#(Self.bob)]]}"#
        try gw.serve("POST", path: "/fhir", body: answer)
        let posted =
            #"{"resourceType":"Bundle","type":"batch","entry":["#
            + #"{"request":{"method":"GET","url":"MedicationDispense/md-1"}},"#
            + #"{"request":{"method":"GET","url":"MedicationDispense/md-2"}}]}"#
        let result = try gw.send(
            "POST", "/fhir", bearer: Tokens.patient(gw), headers: [("Content-Type", "application/fhir+json")],
            body: posted)
        #expect(result.status == 200)
        let statuses = (result.json?["entry"]?.arrayValue ?? []).map { $0["response"]?["status"]?.stringValue }
        #expect(statuses == ["403 Forbidden", "403 Forbidden"])
        expectNoBob(result)
    }

    @Test("duplicate keys (plain or escaped), invalid UTF-8, lone surrogates and deep nesting are 502, not relayed")
    func unparseable() throws {
        let bodies: [[UInt8]] = [
            Array(Self.dispense("md-d1", subject: #"{"reference":"Patient/pt-alice","reference":"Patient/pt-bob"}"#).utf8),
            Array(Self.dispense("md-d2", subject: #"{"reference":"Patient/pt-alice","refer\u0065nce":"Patient/pt-bob"}"#).utf8),
            Array(Self.dispense("md-d3", subject: Self.alice, extra: #","subject":{"reference":"Patient/pt-bob"}"#).utf8),
            Array(Self.dispense("md-d4", subject: Self.alice, extra: #","note":[{"text":"pt-bob \ud800"}]"#).utf8),
            Array(Self.dispense("md-d5", subject: Self.alice, extra: #","note":[{"text":"pt-bob "#).utf8) + [0xC0, 0xAF]
                + Array(#""}]"#.utf8),
            Array(Self.dispense("md-d6", subject: Self.alice, extra: #","note":"#).utf8)
                + Array(repeating: UInt8(ascii: "["), count: 200) + Array(#""pt-bob""#.utf8)
                + Array(repeating: UInt8(ascii: "]"), count: 200),
        ]
        let token = try Tokens.patient(gw)
        for (number, resource) in bodies.enumerated() {
            let path = "/fhir/MedicationDispense/md-d\(number + 1)"
            try serve(target: path, bytes: resource)
            let read = try gw.send("GET", path, bearer: token)
            #expect(read.status == 502, "read \(number + 1)")
            expectNoBob(read, "read \(number + 1)")
            let searchset = Array(#"{"resourceType":"Bundle","type":"searchset","entry":[{"resource":"#.utf8)
                + resource + Array("}]}".utf8)
            let target = Self.search + "?_count=\(9100 + number)"
            try serve(target: target, bytes: searchset)
            let found = try gw.send("GET", target, bearer: token)
            #expect(found.status == 502, "searchset \(number + 1)")
            #expect(found.upstream.map(\.target) == [target])
            expectNoBob(found, "searchset \(number + 1)")
        }
    }

    /// Serves raw bytes (not necessarily UTF-8) for requests with exactly this target.
    func serve(target: String, bytes: [UInt8]) throws {
        try gw.recorder!.respond(
            .object(
                JSONObject([
                    ("method", "GET"), ("target", .string(target)),
                    ("headers", .object(JSONObject([("Content-Type", "application/fhir+json")]))),
                    ("bodyBase64", .string(Data(bytes).base64EncodedString())),
                ])))
    }

    @Test("a huge number in an allowed entry is relayed as written")
    func hugeNumber() throws {
        let digits = String(repeating: "9", count: 5000)
        let quantity = #","quantity":{"value":\#(digits)e99999}"#
        let result = try search([Self.entry(Self.dispense("md-n", subject: Self.alice, extra: quantity))], count: 9007)
        #expect(result.status == 200)
        #expect(result.response.text.contains(digits + "e99999"))
    }
}

/// Issue #5 item 4: paging links carry nothing the client could change to reach another patient, because a
/// followed link is a new request, classified, checked and its page inspected like any other.
@Suite("Paging links through the gateway")
struct FHIRPagingLinkTests {
    let gw = FHIRGateways.sample

    /// Serves a FHIR JSON text for requests with exactly this target (query included).
    func serve(target: String, body: String) throws {
        try gw.recorder!.respond([
            "method": "GET", "target": .string(target), "headers": ["Content-Type": "application/fhir+json"],
            "body": .string(body),
        ])
    }

    @Test("following next re-checks the page; an altered or opaque link is refused before the upstream")
    func paging() throws {
        let token = try Tokens.patient(gw)
        let base = gw.upstreamBase
        let first = "/fhir/MedicationDispense?patient=pt-alice&_count=8101"
        let second = "/fhir/MedicationDispense?patient=pt-alice&_count=8101&_offset=1"
        func page(_ id: String, patient: String, next: String?) -> String {
            let link = next.map { #",{"relation":"next","url":"\#(base)\#($0.dropFirst("/fhir".count))"}"# } ?? ""
            return #"{"resourceType":"Bundle","type":"searchset","link":[{"relation":"self","url":"x"}\#(link)],"#
                + #""entry":[{"resource":\#(Fixtures.dispense(id, patient: patient))}]}"#
        }
        try serve(target: first, body: page("md-p1", patient: "pt-alice", next: second))
        // The second page over-shares: it must be inspected like the first.
        try serve(target: second, body: page("md-p2", patient: "pt-bob", next: nil))
        let one = try gw.send("GET", first, bearer: token)
        #expect(one.status == 200)
        let next = try #require(one.json?["link"]?.arrayValue?.first { $0["relation"] == "next" }?["url"]?.stringValue)
        #expect(next == gw.fhirBase + second.dropFirst("/fhir".count))
        let two = try gw.send("GET", String(next.dropFirst(gw.baseURL.count)), bearer: token)
        #expect(two.status == 200)
        #expect(two.upstream.map(\.target) == [second])
        #expect(!two.response.text.contains("pt-bob") && !two.response.text.contains("md-p2"))

        // The client edits the link: another patient, the patient dropped, a second patient added.
        for altered in [
            second.replacingOccurrences(of: "pt-alice", with: "pt-bob"),
            second.replacingOccurrences(of: "patient=pt-alice&", with: ""),
            second + "&patient=pt-bob", second + "&subject=Patient/pt-bob",
        ] {
            let result = try gw.send("GET", altered, bearer: token)
            #expect(result.status == 403 || result.status == 400, "\(altered)")
            #expect(result.upstream.isEmpty, "\(altered)")
        }
        // A server's opaque paging cursor (HAPI's `_getpages`) names no patient: refused, never forwarded.
        let opaque = try gw.send("GET", "/fhir?_getpages=0f3c9a&_getpagesoffset=20&_count=20", bearer: token)
        #expect(opaque.status == 400 || opaque.status == 403)
        #expect(opaque.upstream.isEmpty)
    }

    static func releasedIDs(_ result: Exchanged) -> [String] { FHIRHostileResponseTests.releasedIDs(result) }

    @Test("links the upstream writes for another patient or as an opaque cursor are dropped; the page is released")
    func foreignLink() throws {
        let token = try Tokens.patient(gw)
        let target = "/fhir/MedicationDispense?patient=pt-alice&_count=8102"
        let body =
            #"{"resourceType":"Bundle","type":"searchset","link":[{"relation":"next","#
            + #""url":"\#(gw.upstreamBase)/MedicationDispense?patient=pt-bob&_offset=1"},"#
            + #"{"relation":"last","url":"\#(gw.upstreamBase)?_getpages=0f3c9a&_getpagesoffset=20"}],"#
            + #""entry":[{"resource":\#(Fixtures.dispense("md-f1", patient: "pt-alice"))}]}"#
        try serve(target: target, body: body)
        let result = try gw.send("GET", target, bearer: token)
        #expect(result.status == 200)
        #expect(!result.response.text.contains("pt-bob"))
        #expect(result.json?["link"]?.arrayValue?.isEmpty == true)
        #expect(Self.releasedIDs(result) == ["md-f1"])
    }
}

/// A `$pdmp-history` answer whose Parameters carry resources outside the two outputs that may hold one
/// (SPEC-DIGEST §4.2: `pdmp-history-data`, `outcome`): they are withheld, never relayed unchecked.
@Suite("A hostile $pdmp-history answer")
struct FHIRHostilePDMPTests {
    @Test("a resource smuggled in another output, a part or a malformed parameter is withheld")
    func smuggledOutputs() throws {
        let gw = PolicyGateway.harness
        let bob = Fixtures.dispense("md-bob-7", patient: "pt-bob")
        let history =
            #"{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:uuid:p1","resource":"#
            + #"{"resourceType":"Patient","id":"pt-alice"}},{"resource":\#(Fixtures.dispense("md-a", patient: "pt-alice"))}]}"#
        let answer =
            #"{"resourceType":"Parameters","parameter":[{"name":"pdmp-history-data","resource":\#(history)},"#
            + #"{"name":"outcome","resource":\#(bob)},{"name":"extra","resource":\#(bob)},"#
            + #"{"name":"extra","part":[{"name":"x","resource":\#(bob)}]},\#(bob),"#
            + #"{"name":"pdmp-history-link","valueUrl":"https://pdmp.example/report/1"}]}"#
        try gw.recorder!.respond([
            "method": "POST", "path": "/fhir/$pdmp-history",
            "headers": ["Content-Type": "application/fhir+json"], "body": .string(answer),
        ])
        let result = try gw.send(
            "POST", "/fhir/$pdmp-history", bearer: gw.token(client: "dr-carol", scopes: PolicyGateway.scopes),
            headers: [("Content-Type", "application/fhir+json")],
            body: String(decoding: try PolicyGateway.body("history-carol.json"), as: UTF8.self))
        #expect(result.status == 200, "\(result.response.text.prefix(300))")
        #expect(!result.response.text.contains("pt-bob") && !result.response.text.contains("md-bob"))
        let names = (result.json?["parameter"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
        #expect(names == ["pdmp-history-data", "pdmp-history-link", "outcome"])
        #expect(result.response.text.contains("md-a"))
    }
}
