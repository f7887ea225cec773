// The gateway in front of the real demo upstream (issue #5 "Done when"): sekmet-fhir 0.1.1 with generated
// PDMP data behind deploy/demo/pdmp_responder.py (deploy/demo/README.md). sekmet ignores unknown
// parameters, writes its own base into every link, and its compartment-search paging links drop the
// patient (`Patient/x/MedicationDispense?_count=1` links `next` to `MedicationDispense?_count=1&_offset=1`):
// the gateway must release only the token's patient's data, put the compartment back into such links so that
// paging works, and refuse a link altered to reach another patient.
//
// Needs the demo virtualenv (scripts/setup-python): `<repo>/.venv`, or PDMP_DEMO_VENV naming one.

import Foundation
import GatewayCore
import GatewayTesting
import Testing

enum SekmetUpstream {
    static let venv: String? = {
        let candidates = [
            ProcessInfo.processInfo.environment["PDMP_DEMO_VENV"], GatewayHarness.repositoryRoot + "/.venv",
        ]
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
            let start = try Subprocess.run(
                "/usr/bin/python3",
                [
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
            _ = try? Subprocess.run(
                "/usr/bin/python3",
                [
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

    @Test("an _include search and paging through sekmet's compartment search stay within the token's patient")
    func demoData() throws {
        let demo = try SekmetUpstream.Demo(venv: try #require(SekmetUpstream.venv))
        defer { demo.stop() }
        let gw = demo.gateway
        let token = try gw.token(client: "app-1", scopes: Self.scopes, patient: "pat-00001")

        // 1. One patient's dispenses with the pharmacy and, through the prescription, the prescriber.
        let search =
            "/fhir/MedicationDispense?patient=pat-00001&_include=MedicationDispense:performer:Organization"
            + "&_include=MedicationDispense:prescription&_include:iterate=MedicationRequest:requester:Practitioner"
        let included = try gw.send("GET", search, bearer: token)
        #expect(included.status == 200, "\(included.response.text.prefix(300))")
        let entries = included.json?["entry"]?.arrayValue ?? []
        let types = Set(entries.compactMap { $0["resource"]?["resourceType"]?.stringValue })
        #expect(types.isSuperset(of: ["MedicationDispense", "Organization", "MedicationRequest", "Practitioner"]))
        #expect(Self.patients(in: included.json) == ["Patient/pat-00001"])
        #expect(!included.response.text.contains(demo.upstreamBase))
        #expect(entries.allSatisfy { $0["resource"]?["resourceType"] != "OperationOutcome" })

        // 2. A compartment search paged two at a time. sekmet links its pages as the type-level search
        //    (`MedicationDispense?_count=2&_offset=2`); the gateway puts the compartment back, so following
        //    `next` pages through the patient's dispenses and nothing else.
        var target: String? = "/fhir/Patient/pat-00001/MedicationDispense?_count=2"
        var paged: [String] = []
        var pages = 0
        var nextLink: String?
        while let current = target, pages < 20 {
            let page = try gw.send("GET", current, bearer: token)
            #expect(page.status == 200, "\(current): \(page.response.text.prefix(300))")
            #expect(Self.patients(in: page.json).isSubset(of: ["Patient/pat-00001"]))
            paged += (page.json?["entry"]?.arrayValue ?? []).compactMap { $0["resource"]?["id"]?.stringValue }
            let links = page.json?["link"]?.arrayValue ?? []
            for url in links.compactMap({ $0["url"]?.stringValue }) {
                #expect(url.hasPrefix(gw.fhirBase + "/Patient/pat-00001/MedicationDispense"), "\(url)")
            }
            let next = links.first { $0["relation"] == "next" }?["url"]?.stringValue
            if let next, nextLink == nil { nextLink = next }
            target = next.map { String($0.dropFirst(gw.baseURL.count)) }
            pages += 1
        }
        let whole = try gw.send("GET", "/fhir/Patient/pat-00001/MedicationDispense?_count=100", bearer: token)
        let all = (whole.json?["entry"]?.arrayValue ?? []).compactMap { $0["resource"]?["id"]?.stringValue }
        #expect(pages > 1 && all.count > 2, "the demo patient needs more than one page")
        #expect(paged.sorted() == all.sorted())
        // An altered page link is refused like any other request: another patient's compartment (403, the
        // same answer as for a missing one), or the compartment dropped (a population query).
        let link = String(try #require(nextLink).dropFirst(gw.baseURL.count))
        let forged = try gw.send("GET", link.replacingOccurrences(of: "pat-00001", with: "pat-00002"), bearer: token)
        #expect(forged.status == 403)
        #expect(!forged.response.text.contains("pat-00002"))
        let dropped = link.replacingOccurrences(of: "/Patient/pat-00001", with: "")
        let population = try gw.send("GET", dropped, bearer: token)
        #expect(population.status == 403)
        #expect(!population.response.text.contains("pat-000"))
        // The dropped link with a system token: a population query, refused by policy.
        let system = try gw.send(
            "GET", dropped, bearer: gw.token(client: "app-9", scopes: ["system/MedicationDispense.rs"]))
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
