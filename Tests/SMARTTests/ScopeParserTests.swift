import Testing

@testable import SMART

@Suite("SMART scope grammar, v1 and v2 (SPEC-DIGEST §2.1–§2.3, SCP-02)")
struct ScopeParserTests {
    @Test("v1 scopes map to v2 permissions")
    func v1() throws {
        let read = try SMARTScope.parse("patient/MedicationDispense.read")
        #expect(read.level == .patient && read.resourceType == "MedicationDispense" && read.syntax == .v1)
        #expect(read.permissions == [.read, .search])
        #expect(try SMARTScope.parse("user/Observation.write").permissions == [.create, .update, .delete])
        #expect(try SMARTScope.parse("system/*.*").permissions == .all)
        #expect(try SMARTScope.parse("system/*.*").resourceType == "*")
    }

    @Test("v2 letters are an ordered, non-empty subset of cruds")
    func v2() throws {
        #expect(try SMARTScope.parse("patient/Observation.rs").permissions == [.read, .search])
        #expect(try SMARTScope.parse("system/Patient.cruds").permissions == .all)
        #expect(try SMARTScope.parse("user/MedicationRequest.cu").permissions.letters == "cu")
        #expect(try SMARTScope.parse("patient/MedicationDispense.s").permissions == [.search])
    }

    @Test("granular constraints are parsed and percent-decoded")
    func granular() throws {
        let scope = try SMARTScope.parse(
            "patient/MedicationRequest.rs?category="
                + "http://terminology.hl7.org/CodeSystem/medicationrequest-category%7Coutpatient")
        #expect(
            scope.constraints == [
                ScopeConstraint(
                    name: "category",
                    value: "http://terminology.hl7.org/CodeSystem/medicationrequest-category|outpatient")
            ])
        let two = try SMARTScope.parse("patient/Observation.rs?category=a&status=final")
        #expect(two.constraints.map(\.name) == ["category", "status"])
    }

    @Test(
        "malformed scopes grant nothing (SCP-02)",
        arguments: [
            "patient/*.search", "patient/MedicationDispense.sr", "Patient/MedicationDispense.rs",
            "patient//MedicationDispense.rs", "patient/Medication*.rs", "patient/MedicationDispense.rs?",
            "patient/MedicationDispense.rsx", "patient/MedicationDispense.READ", "patient/MedicationDispense.",
            "patient/MedicationDispense.rs?category", "patient/MedicationDispense.read?status=completed",
            "patient/MedicationDispense.rs?colour=red", "patient/MedicationDispense.rs?code:in=x",
            "patient/*.rs?status=active", "clinic/MedicationDispense.rs", "patient/Prescription.rs",
            "patient/MedicationDispense.rs ", "patient/MedicationDispense.rs?status=a&",
        ])
    func malformed(text: String) {
        #expect(throws: ScopeParseError.malformed) { try SMARTScope.parse(text) }
    }

    @Test("launch, identity and custom scopes are not resource scopes")
    func nonResource() {
        for text in ["openid", "fhirUser", "launch/patient", "offline_access", "__pdmp.query"] {
            #expect(throws: ScopeParseError.notAResourceScope) { try SMARTScope.parse(text) }
        }
        #expect((try? SMARTScope.parse("http://smarthealthit.org/fhir/scopes/system/*.rs"))?.resourceType == "*")
    }

    @Test("a ScopeSet reports what it could not parse")
    func scopeSet() {
        let set = ScopeSet(string: "patient/MedicationDispense.rs openid patient/Medication*.rs")
        #expect(set.scopes.map(\.text) == ["patient/MedicationDispense.rs"])
        #expect(set.invalid == ["patient/Medication*.rs"] && set.other == ["openid"])
    }
}
