import Foundation
import Testing

@testable import FHIR

@Suite("Batch and transaction Bundles (BND-01, BND-03)")
struct BundleClassificationTests {
    static func bundle(_ type: String, _ entries: [String]) -> String {
        #"{"resourceType":"Bundle","type":""# + type + #"","entry":["# + entries.joined(separator: ",") + "]}"
    }

    static func get(_ url: String) -> String { #"{"request":{"method":"GET","url":""# + url + #""}}"# }

    static func post(_ body: String) -> String {
        "{\"request\":{\"method\":\"POST\",\"url\":\"MedicationDispense\"},\"resource\":" + body + "}"
    }

    @Test("each entry becomes its own interaction with its own patients (BND-01)")
    func entries() throws {
        let body = Self.bundle(
            "transaction", [Self.get("Patient/pt-alice"), Self.get("MedicationDispense?patient=pt-bob")])
        let interaction = try classify("POST", "/fhir", contentType: "application/fhir+json", body: body)
        #expect(interaction.kind == .transaction && interaction.entries.count == 2)
        #expect(interaction.entries[0].kind == .read && interaction.entries[0].patients == ["pt-alice"])
        #expect(interaction.entries[1].kind == .searchType && interaction.entries[1].patients == ["pt-bob"])
        #expect(interaction.entries.map(\.entryIndex) == [0, 1])
        // The transaction is denied as a whole for Alice's token; a batch entry alone.
        #expect(!CompartmentCheck.requestDecision(interaction, allowedPatients: ["pt-alice"]).isAllowed)
        let batch = try classify(
            "POST", "/fhir", contentType: "application/fhir+json",
            body: body.replacingOccurrences(of: "\"transaction\"", with: "\"batch\""))
        #expect(batch.kind == .batch)
        #expect(CompartmentCheck.requestDecision(batch.entries[0], allowedPatients: ["pt-alice"]).isAllowed)
        #expect(!CompartmentCheck.requestDecision(batch.entries[1], allowedPatients: ["pt-alice"]).isAllowed)
    }

    @Test("entry URLs of this base canonicalise to Patient/pt-bob; foreign and non-canonical ones are 400 (BND-03)")
    func entryURLs() throws {
        let urls = [
            "https://gw.example:8443/fhir/Patient/pt-bob", "http://169.254.169.254/latest/meta-data/",
            "//attacker.example/x", "Patient/pt-alice/../pt-bob", "Patient%2Fpt-bob", "/fhir/Patient/pt-bob",
            "Patient/pt-bob?_format=json",
        ]
        let body = Self.bundle("batch", urls.map(Self.get))
        let batch = try classify("POST", "/fhir", contentType: "application/fhir+json", body: body)
        #expect(batch.entries.map(\.entryIndex) == [0, 5, 6])
        #expect(batch.entries.allSatisfy { $0.kind == .read && $0.patients == ["pt-bob"] })
        #expect(batch.rejectedEntries.map(\.index) == [1, 2, 3, 4])
        #expect(batch.rejectedEntries.allSatisfy { $0.error.status == 400 })
        let transaction = body.replacingOccurrences(of: "\"batch\"", with: "\"transaction\"")
        #expect(refusal("POST", "/fhir", contentType: "application/fhir+json", body: transaction)?.status == 400)
    }

    @Test("nested Bundles are refused, in the URL and in the resource (BND-03)")
    func nested() throws {
        let inner = Self.bundle("transaction", [Self.get("Patient/pt-bob")])
        let entry = #"{"request":{"method":"POST","url":"/"},"resource":"# + inner + "}"
        let byURL = try classify(
            "POST", "/fhir", contentType: "application/fhir+json", body: Self.bundle("batch", [entry]))
        #expect(byURL.entries.isEmpty && byURL.rejectedEntries.first?.error.status == 400)
        let typed = #"{"request":{"method":"POST","url":"Bundle"},"resource":"# + inner + "}"
        let byType = try classify(
            "POST", "/fhir", contentType: "application/fhir+json", body: Self.bundle("batch", [typed]))
        #expect(byType.entries.isEmpty && byType.rejectedEntries.count == 1)
    }

    @Test("an entry's resource type must match its URL and its references name patients")
    func entryResources() throws {
        let dispense = Fixtures.dispense(id: "md-9", patient: "pt-bob")
        let good = try classify(
            "POST", "/fhir", contentType: "application/fhir+json",
            body: Self.bundle("batch", [Self.post(dispense)]))
        #expect(good.entries.first?.kind == .create && good.entries.first?.patients == ["pt-bob"])
        #expect(good.patients == ["pt-bob"])
        let wrongType = Self.post(Fixtures.request(id: "mr-9", patient: "pt-alice"))
        let bad = try classify(
            "POST", "/fhir", contentType: "application/fhir+json", body: Self.bundle("batch", [wrongType]))
        #expect(bad.rejectedEntries.first?.error.status == 400)
    }

    @Test("only batch and transaction Bundles may be posted to the base")
    func bundleTypes() {
        let collection = Self.bundle("collection", [])
        #expect(refusal("POST", "/fhir", contentType: "application/fhir+json", body: collection)?.status == 400)
        #expect(
            refusal(
                "POST", "/fhir?_count=1", contentType: "application/fhir+json",
                body: Self.bundle("batch", []))?.status == 400)
    }
}
