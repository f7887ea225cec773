import Testing

@testable import SMART

@Suite("Token endpoint scope mediation") struct AuthScopeMediationTests {
    @Test("Only requested scopes within a registered scope are granted, in request form and order")
    func intersection() {
        let registered = ["system/MedicationDispense.rs", "system/Patient.read", "__pdmp.query"]
        let requested = [
            "system/Patient.rs", "system/MedicationDispense.read", "system/MedicationDispense.r", "system/*.rs",
            "system/MedicationDispense.cruds", "user/MedicationDispense.rs", "__pdmp.query", "__other",
            "launch/patient",
        ]
        #expect(
            ScopeMediation.grant(requested: requested, registered: registered) == [
                "system/Patient.rs", "system/MedicationDispense.read", "system/MedicationDispense.r", "__pdmp.query",
            ])
    }

    @Test("A wildcard registration covers a specific type but never the reverse")
    func wildcard() {
        #expect(
            ScopeMediation.grant(requested: ["system/Patient.rs"], registered: ["system/*.rs"]) == ["system/Patient.rs"]
        )
        #expect(ScopeMediation.grant(requested: ["system/*.rs"], registered: ["system/Patient.rs"]).isEmpty)
    }

    @Test(
        "Malformed scopes grant nothing, even when registered verbatim",
        arguments: [
            "system/MedicationDispense.sr", "System/MedicationDispense.rs", "system//MedicationDispense.rs",
            "system/MedicationDispense.READ", "system/MedicationDispense.rs?",
        ])
    func malformed(scope: String) {
        #expect(ScopeMediation.grant(requested: [scope], registered: [scope, "system/*.cruds"]).isEmpty)
    }

    @Test("A registered granular constraint is never dropped")
    func granular() {
        let registered = ["system/Observation.rs?category=laboratory"]
        #expect(ScopeMediation.grant(requested: ["system/Observation.rs"], registered: registered).isEmpty)
        #expect(ScopeMediation.grant(requested: registered, registered: registered) == registered)
    }

    @Test("The scope parameter splits on single spaces only")
    func split() {
        #expect(ScopeMediation.split("a b") == ["a", "b"])
        #expect(ScopeMediation.split("a  b") == nil)
        #expect(ScopeMediation.split("a\tb") == nil)
        #expect(ScopeMediation.split("") == nil)
        #expect(ScopeMediation.split("a\"b") == nil)
    }
}
