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
