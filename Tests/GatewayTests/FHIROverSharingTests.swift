// An upstream that over-shares (issue #5 "Bad input"; ARCHITECTURE §1 step 5): the recorder answers a
// single-patient search with another patient's MedicationDispense, and a read by id with one. The gateway
// withholds it (searchset: entry removed, an OperationOutcome entry, no `total`; read: the same 403 as a
// missing id), and rewrites the upstream's own base in links, fullUrls and Location to the gateway's.

import Foundation
import GatewayCore
import GatewayTesting
import Testing

@Suite("An over-sharing upstream")
struct FHIROverSharingTests {
    let gw = FHIRGateways.sample

    /// Serves a searchset for `patient`'s dispenses that also holds pt-bob's, master data referenced by the
    /// allowed entry, and an Organization nothing references.
    func serveOverSharingSearch(path: String) throws {
        let medication = #"{"resourceType":"Medication","id":"med-oxy","code":{"text":"oxycodone"}}"#
        let unreferenced = #"{"resourceType":"Organization","id":"org-bob-pharmacy","name":"Bob's pharmacy"}"#
        try gw.serve(
            path: path,
            body: Fixtures.searchset(
                [
                    Fixtures.dispense("md-alice-1", patient: "pt-alice", medication: "med-oxy"),
                    Fixtures.dispense("md-bob-1", patient: "pt-bob"), medication, unreferenced,
                ], base: gw.upstreamBase, total: 2))
    }

    /// `links`: where the rewritten paging links point (a compartment search's stay in the compartment).
    func checkWithheld(_ result: Exchanged, links linkPath: String = "/MedicationDispense?") throws {
        #expect(result.status == 200)
        let bundle = try #require(result.json)
        #expect(bundle["total"] == nil)
        let entries = bundle["entry"]?.arrayValue ?? []
        let released = entries.compactMap { entry -> String? in
            guard let type = entry["resource"]?["resourceType"]?.stringValue, type != "OperationOutcome" else {
                return nil
            }
            return type + "/" + (entry["resource"]?["id"]?.stringValue ?? "")
        }
        #expect(released == ["MedicationDispense/md-alice-1", "Medication/med-oxy"])
        let notice = try #require(entries.last)
        #expect(notice["resource"]?["resourceType"] == "OperationOutcome")
        #expect(notice["resource"]?["issue"]?.arrayValue?.first?["code"] == "suppressed")
        #expect(notice["search"]?["mode"] == "outcome")
        #expect(!result.response.text.contains("pt-bob") && !result.response.text.contains("md-bob-1"))
        // URL rewriting (issue #5 item 7): nothing of the upstream's base is left.
        #expect(!result.response.text.contains(gw.upstreamBase))
        for entry in entries.dropLast() {
            #expect(entry["fullUrl"]?.stringValue?.hasPrefix(gw.fhirBase + "/") == true)
        }
        let links = bundle["link"]?.arrayValue ?? []
        #expect(links.count == 2)
        #expect(links.allSatisfy { $0["url"]?.stringValue?.hasPrefix(gw.fhirBase + linkPath) == true })
    }

    @Test("a patient-context search: the other patient's dispense is withheld, the notice added, total dropped")
    func patientTokenSearch() throws {
        try serveOverSharingSearch(path: "/fhir/Patient/pt-alice/MedicationDispense")
        let result = try gw.send("GET", "/fhir/Patient/pt-alice/MedicationDispense", bearer: Tokens.patient(gw))
        try checkWithheld(result, links: "/Patient/pt-alice/MedicationDispense?")
        #expect(result.upstream.map(\.target) == ["/fhir/Patient/pt-alice/MedicationDispense"])
    }

    @Test("a system token's single-patient search is narrowed and checked the same way")
    func systemTokenSearch() throws {
        try serveOverSharingSearch(path: "/fhir/MedicationDispense")
        let result = try gw.send("GET", "/fhir/MedicationDispense?patient=pt-alice", bearer: Tokens.system(gw))
        try checkWithheld(result)
        #expect(result.upstream.map(\.target) == ["/fhir/MedicationDispense?patient=pt-alice"])
        // A search that does not pin the patient by `patient` is narrowed: the gateway adds it.
        let bySubject = try gw.send(
            "GET", "/fhir/MedicationDispense?subject=Patient/pt-alice", bearer: Tokens.system(gw))
        #expect(bySubject.status == 200)
        #expect(
            bySubject.upstream.map(\.target) == [
                "/fhir/MedicationDispense?subject=Patient/pt-alice&patient=Patient/pt-alice"
            ])
    }

    @Test("a read answered with another patient's dispense is the same 403 as a non-existent id")
    func overSharingRead() throws {
        // The upstream answers a read of an id the token's patient might own with Bob's resource.
        try gw.serve(path: "/fhir/MedicationDispense/md-x-42", body: Fixtures.dispense("md-x-42", patient: "pt-bob"))
        try gw.serve(path: "/fhir/MedicationDispense/md-x-43", status: 404, body: Fixtures.notFound)
        let token = try Tokens.patient(gw)
        let overShared = try gw.send("GET", "/fhir/MedicationDispense/md-x-42", bearer: token)
        let missing = try gw.send("GET", "/fhir/MedicationDispense/md-x-43", bearer: token)
        #expect(overShared.status == 403)
        #expect(overShared.response.body == missing.response.body)
        #expect(overShared.response.header("Content-Type") == missing.response.header("Content-Type"))
        #expect(!overShared.response.text.contains("pt-bob"))
        #expect(overShared.upstream.count == 1 && missing.upstream.count == 1)
    }
}
