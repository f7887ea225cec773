// The gateway in front of the real demo upstream (issue #5 "Done when"): sekmet-fhir 0.1.1 with generated
// PDMP data behind deploy/demo/pdmp_responder.py (deploy/demo/README.md). sekmet ignores unknown
// parameters, writes its own base into every link, and its compartment-search paging links drop the
// patient (`Patient/x/MedicationDispense?_count=1` links `next` to `MedicationDispense?_count=1&_offset=1`):
// the gateway must release only the token's patient's data and such a link must not reach another patient.
//
// Needs the demo virtualenv (scripts/setup-python): `<repo>/.venv`, or PDMP_DEMO_VENV naming one.

import Foundation
import GatewayCore
import GatewayTesting
import Testing

enum SekmetUpstream {
    static let venv: String? = {
        let candidates = [ProcessInfo.processInfo.environment["PDMP_DEMO_VENV"], GatewayHarness.repositoryRoot + "/.venv"]
        return candidates.compactMap { $0 }.first { FileManager.default.isExecutableFile(atPath: $0 + "/bin/sekmet") }
    }()

    /// sekmet + responder with 50 demo patients, and a gateway in front (sample policies).
    final class Demo: @unchecked Sendable {
        // Safe: immutable after init; the harness synchronises itself.
        let dataDirectory: String
        let gateway: GatewayHarness
        /// The base the demo upstream writes into its links (the responder's).
        let upstreamBase: String

        init(venv: String) throws {
            dataDirectory = NSTemporaryDirectory() + "fhir-sekmet-" + RandomID.hex128()
            let (port, responderPort) = (try GatewayHarness.freePort(), try GatewayHarness.freePort())
            let start = try Subprocess.run("/usr/bin/python3", [
                GatewayHarness.repositoryRoot + "/deploy/demo/start-upstream", "--port", String(port),
                "--responder-port", String(responderPort), "--data-dir", dataDirectory, "--patients", "50",
                "--venv", venv, "--timeout", "180",
            ])
            guard start.status == 0, start.stdoutText.contains("READY") else {
                throw GatewayError(status: 500, issueType: .exception, "start-upstream failed: \(start.stderr)")
            }
            upstreamBase = "http://127.0.0.1:\(responderPort)/fhir"
            gateway = try GatewayHarness(upstreamURL: upstreamBase, clients: FHIRGateways.clients)
        }

        func stop() {
            gateway.stop()
            _ = try? Subprocess.run("/usr/bin/python3", [
                GatewayHarness.repositoryRoot + "/deploy/demo/stop-upstream", "--data-dir", dataDirectory,
            ])
            try? FileManager.default.removeItem(atPath: dataDirectory)
        }
    }
}

@Suite("The gateway in front of sekmet-fhir with demo data", .enabled(if: SekmetUpstream.venv != nil), .serialized)
struct FHIRSekmetTests {
    static let scopes = [
        "patient/MedicationDispense.rs", "patient/MedicationRequest.rs", "patient/Organization.rs",
        "patient/Practitioner.rs", "patient/Patient.rs",
    ]

    /// Every patient a returned resource names (subject/patient references).
    static func patients(in bundle: JSONValue?) -> Set<String> {
        var found: Set<String> = []
        for entry in bundle?["entry"]?.arrayValue ?? [] {
            guard let resource = entry["resource"] else { continue }
            for key in ["subject", "patient"] {
                if let reference = resource[key]?["reference"]?.stringValue { found.insert(reference) }
            }
        }
        return found
    }

    @Test("an _include search and sekmet's patient-dropping paging links stay within the token's patient")
    func demoData() throws {
        let demo = try SekmetUpstream.Demo(venv: try #require(SekmetUpstream.venv))
        defer { demo.stop() }
        let gw = demo.gateway
        let token = try gw.token(client: "app-1", scopes: Self.scopes, patient: "pat-00001")

        // 1. One patient's dispenses with the pharmacy and, through the prescription, the prescriber.
        let search = "/fhir/MedicationDispense?patient=pat-00001&_include=MedicationDispense:performer:Organization"
            + "&_include=MedicationDispense:prescription&_include:iterate=MedicationRequest:requester:Practitioner"
        let included = try gw.send("GET", search, bearer: token)
        #expect(included.status == 200, "\(included.response.text.prefix(300))")
        let entries = included.json?["entry"]?.arrayValue ?? []
        let types = Set(entries.compactMap { $0["resource"]?["resourceType"]?.stringValue })
        #expect(types.isSuperset(of: ["MedicationDispense", "Organization", "MedicationRequest", "Practitioner"]))
        #expect(Self.patients(in: included.json) == ["Patient/pat-00001"])
        #expect(!included.response.text.contains(demo.upstreamBase))
        #expect(entries.allSatisfy { $0["resource"]?["resourceType"] != "OperationOutcome" })

        // 2. A compartment search paged one at a time: sekmet's `next` drops the patient.
        let page = try gw.send("GET", "/fhir/Patient/pat-00001/MedicationDispense?_count=1", bearer: token)
        #expect(page.status == 200)
        #expect(Self.patients(in: page.json) == ["Patient/pat-00001"])
        let links = page.json?["link"]?.arrayValue ?? []
        let next = try #require(links.first { $0["relation"] == "next" }?["url"]?.stringValue)
        #expect(next.hasPrefix(gw.fhirBase + "/"))
        // Following it cannot reach another patient: it names none, so it is refused before the upstream.
        let followed = try gw.send("GET", String(next.dropFirst(gw.baseURL.count)), bearer: token)
        #expect(followed.status == 403)
        #expect(followed.upstream.isEmpty)
        #expect(!followed.response.text.contains("pat-000"))
        // The same link with a system token: a population query, refused by policy.
        let system = try gw.send("GET", String(next.dropFirst(gw.baseURL.count)), bearer: gw.token(
            client: "app-9", scopes: ["system/MedicationDispense.rs"]))
        #expect(system.status == 403)

        // 3. A dispense of another demo patient, read by id with pat-00001's token: the 403 of a missing id.
        let systemToken = try gw.token(client: "app-1", scopes: ["system/MedicationDispense.rs"])
        let others = try gw.send("GET", "/fhir/MedicationDispense?patient=pat-00006", bearer: systemToken)
        #expect(Self.patients(in: others.json) == ["Patient/pat-00006"])
        let otherID = try #require(others.json?["entry"]?.arrayValue?.first?["resource"]?["id"]?.stringValue)
        let other = try gw.send("GET", "/fhir/MedicationDispense/\(otherID)", bearer: token)
        let missing = try gw.send("GET", "/fhir/MedicationDispense/md-pat-00001-99-9", bearer: token)
        #expect(other.status == 403 && missing.status == 403)
        #expect(other.response.body == missing.response.body)
    }
}
