// Batch and transaction Bundles through the running gateway (attack cases BND-01, BND-03): each batch
// entry is decided on its own and only allowed entries reach the upstream; a transaction is all-or-nothing;
// entry URLs are relative and canonical. The sample policies refuse bundles outright (no-bundles).

import Audit
import Foundation
import GatewayCore
import GatewayTesting
import Testing

// Serialized: the batch tests program the recorder's answer to the same `POST /fhir`.
@Suite("FHIR bundles through the gateway", .serialized)
struct FHIRBundleIntegrationTests {
    static let json = [("Content-Type", "application/fhir+json")]

    static func bundle(_ type: String, urls: [String]) -> String {
        let entries = urls.map { #"{"request":{"method":"GET","url":"\#($0)"}}"# }.joined(separator: ",")
        return #"{"resourceType":"Bundle","type":"\#(type)","entry":[\#(entries)]}"#
    }

    static let bnd01 = ["Patient/pt-alice", "MedicationDispense?patient=pt-bob"]

    func statuses(_ result: Exchanged) -> [String] {
        (result.json?["entry"]?.arrayValue ?? []).map { $0["response"]?["status"]?.stringValue ?? "-" }
    }

    @Test("the sample policies refuse batch and transaction Bundles before the upstream")
    func samplePoliciesRefuseBundles() throws {
        let gw = FHIRGateways.sample
        for type in ["batch", "transaction"] {
            let result = try gw.send(
                "POST", "/fhir", bearer: Tokens.patient(gw), headers: Self.json,
                body: Self.bundle(type, urls: Self.bnd01))
            #expect(result.status == 403)
            #expect(result.issueCode == "forbidden")
            #expect(result.upstream.isEmpty)
        }
    }

    @Test("BND-01: a transaction with one denied entry is refused whole, nothing upstream; both denials audited")
    func transactionAllOrNothing() throws {
        let gw = FHIRGateways.open
        let result = try gw.send(
            "POST", "/fhir", bearer: Tokens.patient(gw), headers: Self.json,
            body: Self.bundle("transaction", urls: Self.bnd01))
        #expect(result.status == 403)
        #expect(result.upstream.isEmpty)
        let id = try #require(result.response.header("X-Request-ID"))
        let events = try Self.auditEvents(gw, requestID: id)
        try #require(events.count == 2)
        #expect(Self.subtypes(events[0].event).contains("transaction") && events[0].event["outcome"] == "4")
        #expect(Self.subtypes(events[1].event).contains("search-type") && events[1].event["outcome"] == "4")
    }

    @Test("BND-01: a batch answers the denied entry with 403 and sends only the allowed one upstream")
    func batchPerEntry() throws {
        let gw = FHIRGateways.open
        let answer =
            #"{"resourceType":"Bundle","type":"batch-response","entry":[{"resource":\#(Fixtures.patient("pt-alice")),"#
            + #""response":{"status":"200 OK"}}]}"#
        try gw.serve("POST", path: "/fhir", body: answer)
        let result = try gw.send(
            "POST", "/fhir", bearer: Tokens.patient(gw), headers: Self.json,
            body: Self.bundle("batch", urls: Self.bnd01))
        #expect(result.status == 200)
        #expect(result.json?["type"] == "batch-response")
        #expect(statuses(result) == ["200 OK", "403 Forbidden"])
        let denied = result.json?["entry"]?.arrayValue?.last?["response"]?["outcome"]
        #expect(denied?["resourceType"] == "OperationOutcome")
        #expect(denied?["issue"]?.arrayValue?.first?["code"] == "forbidden")
        let upstream = try #require(result.upstream.first)
        #expect(result.upstream.count == 1)
        #expect(upstream.method == "POST" && upstream.target == "/fhir")
        let forwarded = try JSONValue.parse(upstream.body)
        #expect(forwarded["type"] == "batch")
        #expect(
            forwarded["entry"]?.arrayValue?.compactMap { $0["request"]?["url"]?.stringValue } == ["Patient/pt-alice"])
        #expect(!String(decoding: upstream.body, as: UTF8.self).contains("pt-bob"))
    }

    @Test("BND-01: an upstream batch answer for another patient becomes a 403 entry")
    func batchResponseInspected() throws {
        let gw = FHIRGateways.open
        let answer =
            #"{"resourceType":"Bundle","type":"batch-response","entry":[{"resource":\#(Fixtures.patient("pt-bob")),"#
            + #""response":{"status":"200 OK"}}]}"#
        try gw.serve("POST", path: "/fhir", times: 1, body: answer)
        let result = try gw.send(
            "POST", "/fhir", bearer: Tokens.patient(gw, patient: "pt-erin"), headers: Self.json,
            body: Self.bundle("batch", urls: ["Patient/pt-erin", "Patient/pt-bob"]))
        #expect(result.status == 200)
        #expect(statuses(result) == ["403 Forbidden", "403 Forbidden"])
        #expect(!result.response.text.contains("pt-bob"))
        #expect(result.upstream.count == 1)
    }

    @Test("a batch entry under a granular scope is refused (its constraint could not be checked), nothing upstream")
    func granularScopeEntry() throws {
        let gw = FHIRGateways.open
        let category = "http://terminology.hl7.org/CodeSystem/medicationrequest-category"
        let token = try Tokens.patient(gw, ["patient/MedicationRequest.rs?category=\(category)|outpatient"])
        let result = try gw.send(
            "POST", "/fhir", bearer: token, headers: Self.json,
            body: Self.bundle("batch", urls: ["MedicationRequest/mr-alice-2"]))
        #expect(result.status == 200)
        #expect(statuses(result) == ["403 Forbidden"])
        #expect(result.upstream.isEmpty)
    }

    @Test("BND-03: absolute, foreign, traversing, encoded and nested entries: 403 or 400 per entry, nothing upstream")
    func entryURLs() throws {
        let gw = FHIRGateways.open
        let urls = [
            gw.fhirBase + "/Patient/pt-bob", "http://169.254.169.254/latest/meta-data/", "//attacker.example/x",
            "Patient/pt-alice/../pt-bob", "Patient%2Fpt-bob", "/fhir/Patient/pt-bob", "Patient/pt-bob?_format=json",
        ]
        var body = Self.bundle("batch", urls: urls)
        body =
            String(body.dropLast(2)) + #",{"request":{"method":"POST","url":"/"},"resource":"#
            + #"{"resourceType":"Bundle","type":"transaction","entry":[]}}]}"#
        let result = try gw.send("POST", "/fhir", bearer: Tokens.patient(gw), headers: Self.json, body: body)
        #expect(result.status == 200)
        let codes = statuses(result).map { $0.prefix(3) }
        #expect(codes == ["403", "400", "400", "400", "400", "403", "403", "400"])
        #expect(result.upstream.isEmpty)
    }

    /// The AuditEvents of one request, in chain order, with their record sequence numbers.
    static func auditEvents(_ gw: GatewayHarness, requestID: String) throws -> [(seq: Int, event: JSONValue)] {
        try gw.auditChain.records().compactMap { record -> (Int, JSONValue)? in
            guard let event = record["event"], AuditChain.requestIDs(of: event).contains(requestID) else { return nil }
            return (record["seq"]?.intValue ?? -1, event)
        }
    }

    static func subtypes(_ event: JSONValue) -> [String] {
        (event["subtype"]?.arrayValue ?? []).compactMap { $0["code"]?.stringValue }
    }

    @Test("issue #7: every batch entry is an AuditEvent of its own with its outcome, after the Bundle's record")
    func batchEntryAudit() throws {
        let gw = FHIRGateways.open
        let answer =
            #"{"resourceType":"Bundle","type":"batch-response","entry":[{"resource":\#(Fixtures.patient("pt-alice")),"#
            + #""response":{"status":"200 OK"}},{"response":{"status":"404 Not Found"}}]}"#
        try gw.serve("POST", path: "/fhir", body: answer)
        let urls = ["Patient/pt-alice", "MedicationDispense?patient=pt-bob", "MedicationDispense/md-gone", "Bundle/b"]
        let result = try gw.send(
            "POST", "/fhir", bearer: Tokens.patient(gw), headers: Self.json, body: Self.bundle("batch", urls: urls))
        let codes = statuses(result).map { String($0.prefix(3)) }
        #expect(codes.prefix(3) == ["200", "403", "404"] && codes.last?.hasPrefix("4") == true)
        let id = try #require(result.response.header("X-Request-ID"))
        let events = try Self.auditEvents(gw, requestID: id)
        // The Bundle's own record, then one per entry in posted order, consecutive in the hash chain.
        try #require(events.count == 5)
        #expect(events.map(\.seq) == Array(events[0].seq..<(events[0].seq + 5)))
        #expect(Self.subtypes(events[0].event).contains("batch") && events[0].event["outcome"] == "0")
        let read = events[1].event
        #expect(Self.subtypes(read).contains("read") && read["outcome"] == "0")
        let denied = events[2].event
        #expect(denied["type"]?["code"] == "110113" && denied["outcome"] == "4")
        #expect(Self.subtypes(denied).contains("search-type"))
        #expect(denied["outcomeDesc"]?.stringValue?.hasPrefix("403") == true)
        let missing = events[3].event
        #expect(Self.subtypes(missing).contains("read") && missing["outcome"] == "4")
        #expect(missing["outcomeDesc"]?.stringValue?.hasPrefix("404") == true)
        let refused = events[4].event
        #expect(refused["outcome"] == "4" && refused["outcomeDesc"]?.stringValue?.hasPrefix(codes[3]) == true)
        // Each entry's record names its own request, not the Bundle's.
        let requests = events.map { event in
            (event.event["entity"]?.arrayValue ?? []).first { $0["query"] != nil }?["description"]?.stringValue ?? ""
        }
        #expect(requests[2].hasPrefix("GET /fhir/MedicationDispense?patient="), "\(requests)")
        let report = AuditChainVerifier.verify(directory: gw.auditDirectory)
        #expect(report.isValid, "\(report)")
    }
}
