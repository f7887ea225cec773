// Shared pieces of the FHIR authorization integration tests (issue #5): two gateways in front of recording
// upstreams, the attack-case tokens (attack-cases.md §0 "Tokens") and fixtures, and helpers that send one
// request with its own X-Request-ID and return what the upstream received for it.
//
// `FHIRGateways.sample` loads the repository's policies/ (what an operator deploys: read-only, no bundles);
// `FHIRGateways.open` loads a one-rule policy that permits every registered requester with the response
// check, so that tests of writes and bundles exercise the scope and compartment logic itself.

import Foundation
import GatewayCore
import GatewayTesting
import Testing

enum FHIRGateways {
    static let clients: [GatewayHarness.ClientSpec] = [
        .init(id: "app-1", scopes: ["patient/*.rs", "patient/*.cud", "system/*.rs"], npis: ["1234567893"]),
        .init(id: "app-9", scopes: ["system/MedicationDispense.rs"]),
    ]

    static let sample: GatewayHarness = start(policyDirectory: nil)

    static let open: GatewayHarness = {
        let directory = NSTemporaryDirectory() + "fhir-open-policy-" + RandomID.hex128()
        let policy = """
            description: Test only. Every registered requester may ask; every response is checked.
            rules:
              - name: permit-registered
                effect: permit
                when:
                  client.registered: true
                obligations:
                  - check_response_compartment

            """
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try policy.write(toFile: directory + "/open.yaml", atomically: true, encoding: .utf8)
        } catch {
            fatalError("cannot write the test policy: \(error)")
        }
        return start(policyDirectory: directory)
    }()

    private static func start(policyDirectory: String?) -> GatewayHarness {
        do {
            return try GatewayHarness(clients: clients, policyDirectory: policyDirectory)
        } catch {
            fatalError("gateway harness did not start: \(error)")
        }
    }
}

/// The tokens of attack-cases.md §0, minted by the gateway's own key.
enum Tokens {
    static let alice = ["patient/MedicationDispense.rs", "patient/MedicationRequest.rs", "patient/Patient.rs"]
    static let aliceWrite = alice + ["patient/MedicationRequest.cu", "patient/MedicationDispense.cu"]

    static func patient(_ gw: GatewayHarness, _ scopes: [String] = alice, patient: String = "pt-alice") throws -> String
    {
        try gw.token(client: "app-1", scopes: scopes, patient: patient)
    }

    static func system(_ gw: GatewayHarness, _ scopes: [String] = ["system/MedicationDispense.rs"]) throws -> String {
        try gw.token(client: "app-9", scopes: scopes)
    }
}

/// One client request and what the upstream received for it.
struct Exchanged {
    let response: ClientResponse
    let upstream: [UpstreamRecorder.Request]

    var status: Int { response.status }
    var json: JSONValue? { response.json }
    /// The OperationOutcome issue code of an error body.
    var issueCode: String? { json?["issue"]?.arrayValue?.first?["code"]?.stringValue }
}

extension GatewayHarness {
    /// Sends one request with a fresh X-Request-ID and collects the upstream requests that carried it.
    func send(
        _ method: String, _ path: String, bearer: String?, headers: [(String, String)] = [], body: String? = nil
    ) throws -> Exchanged {
        let id = "fhir-" + RandomID.hex128()
        let response = try request(
            method, path, headers: [("X-Request-ID", id)] + headers, body: body.map { Array($0.utf8) },
            bearer: bearer)
        let seen = try upstreamRequests().filter { $0.header("X-Request-ID") == id }
        return Exchanged(response: response, upstream: seen)
    }

    /// Serves `body` (a FHIR JSON text) for requests with exactly this path.
    func serve(
        _ method: String = "GET", path: String, status: Int = 200, times: Int? = nil, body: String,
        headers: [String: String] = [:]
    ) throws {
        var headerObject = JSONObject([("Content-Type", .string("application/fhir+json"))])
        for (name, value) in headers { headerObject[name] = .string(value) }
        try recorder!.respond(
            .object(
                JSONObject(
                    [
                        ("method", .string(method)), ("path", .string(path)), ("status", .int(status)),
                        ("headers", .object(headerObject)), ("body", .string(body)),
                    ] + (times.map { [("times", JSONValue.int($0))] } ?? []))))
    }

    /// The upstream's own FHIR base (written into links by servers such as sekmet-fhir).
    var upstreamBase: String { recorder!.baseURL }
}

/// FHIR resources of the attack-case data (attack-cases.md §0 "Fake data").
enum Fixtures {
    static func dispense(_ id: String, patient: String, medication: String? = nil) -> String {
        let medicationElement =
            medication.map { #""medicationReference":{"reference":"Medication/\#($0)"}"# }
            ?? #""medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"1049621"}]}"#
        return #"{"resourceType":"MedicationDispense","id":"\#(id)","status":"completed",\#(medicationElement),"#
            + #""subject":{"reference":"Patient/\#(patient)"},"performer":[{"actor":{"reference":"Practitioner/prac-1"}}]}"#
    }

    static func request(_ id: String, patient: String, category: String = "outpatient", withID: Bool = true) -> String {
        let idMember = withID ? #""id":"\#(id)","# : ""
        return #"{"resourceType":"MedicationRequest",\#(idMember)"status":"active","intent":"order","#
            + #""category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/medicationrequest-category","#
            + #""code":"\#(category)"}]}],"medicationCodeableConcept":{"text":"oxycodone"},"#
            + #""subject":{"reference":"Patient/\#(patient)"}}"#
    }

    static func patient(_ id: String) -> String {
        #"{"resourceType":"Patient","id":"\#(id)","name":[{"family":"Testpatient"}],"birthDate":"1980-01-01"}"#
    }

    static let notFound =
        #"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found","diagnostics":"gone"}]}"#

    /// A searchset of `resources` (JSON texts), with fullUrls and links under `base`.
    static func searchset(_ resources: [String], base: String, total: Int? = nil) -> String {
        let entries = resources.map { resource -> String in
            let value = try! JSONValue.parse(resource)
            let url = base + "/" + value["resourceType"]!.stringValue! + "/" + value["id"]!.stringValue!
            return #"{"fullUrl":"\#(url)","resource":\#(resource),"search":{"mode":"match"}}"#
        }
        let totalMember = total.map { #""total":\#($0),"# } ?? ""
        return #"{"resourceType":"Bundle","type":"searchset",\#(totalMember)"link":["#
            + #"{"relation":"self","url":"\#(base)/MedicationDispense?patient=pt-alice"},"#
            + #"{"relation":"next","url":"\#(base)/MedicationDispense?patient=pt-alice&_offset=2"}],"#
            + #""entry":[\#(entries.joined(separator: ","))]}"#
    }
}

@Suite("FHIR paths: one canonical form")
struct FHIRPathFormTests {
    let gw = FHIRGateways.sample

    @Test("`*` is not a path byte: Patient/x/* is 400 at the router, in the URL and as a batch entry (FHIR-05 (c))")
    func wildcardCompartment() throws {
        let token = try Tokens.patient(gw)
        let star = try gw.send("GET", "/fhir/Patient/pt-alice/*", bearer: token)
        #expect(star.status == 400)
        #expect(star.json?["resourceType"] == "OperationOutcome")
        #expect(star.upstream.isEmpty)
        let open = FHIRGateways.open
        let batch = try open.send(
            "POST", "/fhir", bearer: Tokens.patient(open), headers: [("Content-Type", "application/fhir+json")],
            body:
                #"{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient/pt-alice/*"}}]}"#
        )
        #expect(batch.status == 200)
        let entry = batch.json?["entry"]?.arrayValue?.first
        #expect(entry?["response"]?["status"]?.stringValue?.hasPrefix("400") == true)
        #expect(batch.upstream.isEmpty)
    }
}
