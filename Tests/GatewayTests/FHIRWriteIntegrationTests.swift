// Writes and instance history through the running gateway (attack cases FHIR-10 (e), FHIR-16, FHIR-18,
// FHIR-19, FHIR-20). The sample policies refuse every write; these tests run against the open test policy
// (FHIRGateways.open) so that the scope and compartment logic itself is what decides.

import Foundation
import GatewayCore
import GatewayTesting
import Testing

@Suite("FHIR writes through the gateway")
struct FHIRWriteIntegrationTests {
    let gw = FHIRGateways.open
    var aliceWrite: String { get throws { try Tokens.patient(gw, Tokens.aliceWrite) } }
    static let json = [("Content-Type", "application/fhir+json")]

    func dispenseBody(subject: String, extra: String = "") -> String {
        #"{"resourceType":"MedicationDispense","status":"completed","medicationCodeableConcept":{"text":"oxycodone"},"#
            + #""subject":\#(subject)\#(extra)}"#
    }

    @Test("the sample policies refuse writes whatever the scopes (no-writes), before the upstream")
    func samplePoliciesAreReadOnly() throws {
        let sample = FHIRGateways.sample
        let result = try sample.send(
            "POST", "/fhir/MedicationDispense", bearer: Tokens.patient(sample, Tokens.aliceWrite), headers: Self.json,
            body: dispenseBody(subject: #"{"reference":"Patient/pt-alice"}"#))
        #expect(result.status == 403)
        #expect(result.upstream.isEmpty)
    }

    @Test("FHIR-16: a reference to another patient in any literal form is 403; identifier and contained are 422")
    func foreignReferences() throws {
        let base = gw.fhirBase
        let bobForms = [
            #"{"reference":"Patient/pt-bob"}"#, #"{"reference":"\#(base)/Patient/pt-bob"}"#,
            #"{"reference":"\#(gw.upstreamBase)/Patient/pt-bob"}"#, #"{"reference":"Patient/pt-bob/_history/2"}"#,
        ]
        for subject in bobForms {
            let result = try gw.send("POST", "/fhir/MedicationDispense", bearer: aliceWrite, headers: Self.json,
                                     body: dispenseBody(subject: subject))
            #expect(result.status == 403, "\(subject)")
            #expect(result.upstream.isEmpty)
        }
        let mixed = try gw.send(
            "POST", "/fhir/MedicationDispense", bearer: aliceWrite, headers: Self.json,
            body: dispenseBody(subject: #"{"reference":"Patient/pt-alice"}"#, extra: #","receiver":[{"reference":"Patient/pt-bob"}]"#))
        #expect(mixed.status == 403)
        #expect(mixed.upstream.isEmpty)
        let identifier = #"{"identifier":{"system":"http://pdmp.example/mrn","value":"TEST-0002"}}"#
        let contained = ##"{"reference":"#p1"}"##
        let containedPatient =
            #","contained":[{"resourceType":"Patient","id":"p1","identifier":[{"system":"http://pdmp.example/mrn","value":"TEST-0002"}]}]"#
        for (subject, extra) in [(identifier, ""), (contained, containedPatient)] {
            let result = try gw.send("POST", "/fhir/MedicationDispense", bearer: aliceWrite, headers: Self.json,
                                     body: dispenseBody(subject: subject, extra: extra))
            #expect(result.status == 422, "\(subject)")
            #expect(result.upstream.isEmpty)
        }
    }

    @Test("FHIR-16 control: a create for the token's patient goes upstream as checked; Location is rewritten")
    func createOwn() throws {
        try gw.serve("POST", path: "/fhir/MedicationDispense", status: 201,
                     body: Fixtures.dispense("md-new-1", patient: "pt-alice"),
                     headers: ["Location": gw.upstreamBase + "/MedicationDispense/md-new-1/_history/1"])
        let body = dispenseBody(subject: #"{"reference":"Patient/pt-alice"}"#)
        let result = try gw.send("POST", "/fhir/MedicationDispense", bearer: aliceWrite, headers: Self.json, body: body)
        #expect(result.status == 201)
        #expect(result.response.header("Location") == gw.fhirBase + "/MedicationDispense/md-new-1/_history/1")
        let upstream = try #require(result.upstream.first)
        #expect(result.upstream.count == 1)
        #expect(upstream.method == "POST" && upstream.target == "/fhir/MedicationDispense")
        #expect(try JSONValue.parse(upstream.body) == JSONValue.parse(body))
    }

    @Test("FHIR-18: identity changes are 400; taking over another patient's record is 403 after a pre-read")
    func updates() throws {
        try gw.serve(path: "/fhir/MedicationRequest/mr-bob-1", body: Fixtures.request("mr-bob-1", patient: "pt-bob"))
        try gw.serve(path: "/fhir/MedicationRequest/mr-new-9", status: 404, body: Fixtures.notFound)
        let otherID = try gw.send("PUT", "/fhir/MedicationRequest/mr-alice-1", bearer: aliceWrite, headers: Self.json,
                                  body: Fixtures.request("mr-bob-1", patient: "pt-alice"))
        #expect(otherID.status == 400)
        #expect(otherID.upstream.isEmpty)
        let otherType = try gw.send("PUT", "/fhir/MedicationRequest/mr-alice-1", bearer: aliceWrite, headers: Self.json,
                                    body: #"{"resourceType":"Patient","id":"mr-alice-1"}"#)
        #expect(otherType.status == 400)
        #expect(otherType.upstream.isEmpty)
        // (b) the body names pt-alice, but the stored resource is Bob's: only the gateway's pre-read went up.
        let takeover = try gw.send("PUT", "/fhir/MedicationRequest/mr-bob-1", bearer: aliceWrite, headers: Self.json,
                                   body: Fixtures.request("mr-bob-1", patient: "pt-alice"))
        #expect(takeover.status == 403)
        #expect(takeover.upstream.map { "\($0.method) \($0.target)" } == ["GET /fhir/MedicationRequest/mr-bob-1"])
        // (d) create-on-update with a client-assigned id: pinned 403, identical to (b) (no existence oracle).
        let create = try gw.send("PUT", "/fhir/MedicationRequest/mr-new-9", bearer: aliceWrite, headers: Self.json,
                                 body: Fixtures.request("mr-new-9", patient: "pt-alice"))
        #expect(create.status == 403)
        #expect(create.response.body == takeover.response.body)
        #expect(create.upstream.map { "\($0.method) \($0.target)" } == ["GET /fhir/MedicationRequest/mr-new-9"])
    }

    @Test("FHIR-18 control: updating the token's patient's record reads it, then sends the checked body")
    func updateOwn() throws {
        try gw.serve(path: "/fhir/MedicationRequest/mr-alice-7", body: Fixtures.request("mr-alice-7", patient: "pt-alice"))
        try gw.serve("PUT", path: "/fhir/MedicationRequest/mr-alice-7", body: Fixtures.request("mr-alice-7", patient: "pt-alice"))
        let body = Fixtures.request("mr-alice-7", patient: "pt-alice", category: "community")
        let result = try gw.send("PUT", "/fhir/MedicationRequest/mr-alice-7", bearer: aliceWrite, headers: Self.json, body: body)
        #expect(result.status == 200)
        #expect(result.upstream.map { "\($0.method) \($0.target)" }
            == ["GET /fhir/MedicationRequest/mr-alice-7", "PUT /fhir/MedicationRequest/mr-alice-7"])
        #expect(try JSONValue.parse(result.upstream.last?.body ?? []) == JSONValue.parse(body))
    }

    @Test("FHIR-19: conditional writes whose criteria do not pin the token's patient are 403")
    func conditionalWrites() throws {
        let rx = "identifier=http://pdmp.example/rx|RX-0002-77"
        let body = Fixtures.request("mr-x", patient: "pt-alice", withID: false)
        let cases: [(String, String, [(String, String)], String?)] = [
            ("PUT", "/fhir/MedicationRequest?\(rx)", Self.json, body),
            ("DELETE", "/fhir/MedicationDispense?status=completed", [], nil),
            ("POST", "/fhir/MedicationRequest", Self.json + [("If-None-Exist", rx)], body),
            ("PATCH", "/fhir/MedicationRequest?\(rx)", [("Content-Type", "application/json-patch+json")],
             #"[{"op":"replace","path":"/status","value":"stopped"}]"#),
        ]
        let write = try Tokens.patient(gw, Tokens.aliceWrite + ["patient/MedicationDispense.d", "patient/MedicationRequest.u"])
        for (method, path, headers, body) in cases {
            let result = try gw.send(method, path, bearer: write, headers: headers, body: body)
            #expect(result.status == 403, "\(method) \(path)")
            #expect(result.upstream.isEmpty, "\(method) \(path)")
        }
    }

    @Test("FHIR-20: XML, mislabelled, _format, duplicate-key and UTF-16 bodies never reach the upstream")
    func bodyFormats() throws {
        let json = Fixtures.request("mr-y", patient: "pt-alice", withID: false)
        let xml = #"<MedicationRequest xmlns="http://hl7.org/fhir"><status value="active"/><intent value="order"/>"#
            + #"<subject><reference value="Patient/pt-bob"/></subject></MedicationRequest>"#
        let duplicate = #"{"resourceType":"MedicationRequest","status":"active","intent":"order","#
            + #""subject":{"reference":"Patient/pt-alice"},"medicationCodeableConcept":{"text":"x"},"#
            + #""subject":{"reference":"Patient/pt-bob"}}"#
        let cases: [(String, [(String, String)], String, Int)] = [
            ("/fhir/MedicationRequest", [("Content-Type", "application/fhir+xml")], xml, 415),
            ("/fhir/MedicationRequest", [("Content-Type", "text/plain")], json, 415),
            ("/fhir/MedicationRequest?_format=xml", [], json, 415),
            ("/fhir/MedicationRequest", Self.json, duplicate, 400),
            ("/fhir/MedicationRequest", Self.json, "\u{FEFF}" + json, 400),
        ]
        for (path, headers, body, status) in cases {
            let result = try gw.send("POST", path, bearer: aliceWrite, headers: headers, body: body)
            #expect(result.status == status, "\(path) \(headers)")
            #expect(result.upstream.isEmpty)
        }
        var utf16: [UInt8] = []
        for unit in json.utf16 { utf16 += [UInt8(unit >> 8), UInt8(unit & 0xFF)] }
        let id = "fhir-" + RandomID.hex128()
        let response = try gw.request(
            "POST", "/fhir/MedicationRequest",
            headers: [("X-Request-ID", id), ("Content-Type", "application/fhir+json; charset=utf-16")], body: utf16,
            bearer: aliceWrite)
        #expect(response.status == 415)
        #expect(try gw.upstreamRequests().filter { $0.header("X-Request-ID") == id }.isEmpty)
    }

    @Test("FHIR-10 (e): an instance history with a version in another compartment is denied whole")
    func historyAcrossCompartments() throws {
        let versions = [Fixtures.request("mr-alice-5", patient: "pt-alice"), Fixtures.request("mr-alice-5", patient: "pt-bob")]
        let entries = versions.map { #"{"resource":\#($0)}"# }.joined(separator: ",")
        try gw.serve(path: "/fhir/MedicationRequest/mr-alice-5/_history",
                     body: #"{"resourceType":"Bundle","type":"history","entry":[\#(entries)]}"#)
        let result = try gw.send("GET", "/fhir/MedicationRequest/mr-alice-5/_history", bearer: Tokens.patient(gw))
        #expect(result.status == 403)
        #expect(!result.response.text.contains("pt-bob"))
        #expect(result.upstream.count == 1)
    }
}
