import GatewayCore
import Testing
@testable import FHIR

@Suite("Granular scope constraints evaluated on resources (SCP-05 (b))")
struct TokenConstraintTests {
    static let outpatient = "http://terminology.hl7.org/CodeSystem/medicationrequest-category|outpatient"

    @Test("a read of an inpatient request does not match an outpatient-only scope")
    func category() {
        let constraint = [SearchParameter(name: "category", values: [Self.outpatient])]
        let outpatient = json(Fixtures.request(id: "mr-alice-1", patient: "pt-alice"))
        let inpatient = json(Fixtures.request(id: "mr-alice-2", patient: "pt-alice", category: "inpatient"))
        #expect(TokenConstraint.matches(outpatient, constraints: constraint) == true)
        #expect(TokenConstraint.matches(inpatient, constraints: constraint) == false)
    }

    @Test("token forms: code, system|code, system|, and primitive codes; unknown parameters cannot be told")
    func forms() {
        let request = json(Fixtures.request(id: "mr-alice-1", patient: "pt-alice"))
        let bare = SearchParameter(name: "category", values: ["outpatient"])
        #expect(TokenConstraint.matches(request, constraints: [bare]) == true)
        let anyCode = SearchParameter(name: "category",
            values: ["http://terminology.hl7.org/CodeSystem/medicationrequest-category|"])
        #expect(TokenConstraint.matches(request, constraints: [anyCode]) == true)
        #expect(TokenConstraint.matches(request, constraints: [SearchParameter(name: "status", values: ["active"])])
            == true)
        #expect(TokenConstraint.matches(request, constraints: [SearchParameter(name: "status", values: ["stopped"])])
            == false)
        #expect(TokenConstraint.matches(request, constraints: [SearchParameter(name: "authoredon", values: ["2026"])])
            == nil)
    }
}

@Suite("Response inspection with granular scope constraints (SCP-05 (b)(e))")
struct ConstrainedInspectionTests {
    static let constraint = [SearchParameter(name: "category", values: [TokenConstraintTests.outpatient])]

    @Test("an inpatient read under an outpatient scope is denied like a missing resource")
    func read() throws {
        let read = try classify("GET", "/fhir/MedicationRequest/mr-alice-2")
        let inpatient = Fixtures.request(id: "mr-alice-2", patient: "pt-alice", category: "inpatient")
        for allowed in [["pt-alice"], nil] as [Set<String>?] {
            let result = ResponseInspector.inspect(body: Array(inpatient.utf8), interaction: read,
                allowedPatients: allowed, upstreamBase: Hosts.upstreamBase, publicBase: Hosts.publicBase,
                scopeConstraints: Self.constraint)
            #expect(result.verdict == .deny(.accessDenied))
        }
    }

    @Test("search entries that do not match the constraint are withheld even if the upstream ignored it")
    func search() throws {
        let search = try classify("GET", "/fhir/MedicationRequest?patient=pt-alice")
        let body = #"{"resourceType":"Bundle","type":"searchset","entry":[{"resource":"#
            + Fixtures.request(id: "mr-alice-1", patient: "pt-alice") + #"},{"resource":"#
            + Fixtures.request(id: "mr-alice-2", patient: "pt-alice", category: "inpatient") + "}]}"
        let result = ResponseInspector.inspect(body: Array(body.utf8), interaction: search,
            allowedPatients: ["pt-alice"], upstreamBase: Hosts.upstreamBase, publicBase: Hosts.publicBase,
            scopeConstraints: Self.constraint)
        #expect(result.withheld == 1)
        let ids = json(String(decoding: result.body, as: UTF8.self))["entry"]?.arrayValue?
            .compactMap { $0["resource"]?["id"]?.stringValue }
        #expect(ids == ["mr-alice-1"])
    }
}
