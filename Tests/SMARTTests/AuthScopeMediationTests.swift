import Testing

@testable import SMART

@Suite("Token endpoint scope mediation") struct AuthScopeMediationTests {
    @Test("Requested scopes within a registered scope are granted in request form and order; broader ones narrowed")
    func intersection() {
        let registered = ["system/MedicationDispense.rs", "system/Patient.read", "__pdmp.query"]
        let requested = [
            "system/Patient.rs", "system/MedicationDispense.read", "system/MedicationDispense.r",
            "system/MedicationDispense.cruds", "user/MedicationDispense.rs", "__pdmp.query", "__other",
            "launch/patient",
        ]
        #expect(
            ScopeMediation.grant(requested: requested, registered: registered) == [
                "system/Patient.rs", "system/MedicationDispense.read", "system/MedicationDispense.r",
                "system/MedicationDispense.rs", "__pdmp.query",
            ])
    }

    @Test("A wildcard registration covers a specific type; a wildcard request is narrowed to the registration")
    func wildcard() {
        #expect(
            ScopeMediation.grant(requested: ["system/Patient.rs"], registered: ["system/*.rs"]) == ["system/Patient.rs"]
        )
        let registered = [
            "system/Patient.rs", "system/MedicationDispense.cruds", "system/Observation.rs?category=laboratory",
            "user/Practitioner.rs", "__pdmp.query",
        ]
        #expect(
            ScopeMediation.grant(requested: ["system/*.rs"], registered: registered) == [
                "system/Patient.rs", "system/MedicationDispense.rs", "system/Observation.rs?category=laboratory",
            ])
        // v1 requests get v1 words where they fit; a request for permissions nothing registered has gets none.
        #expect(
            ScopeMediation.grant(requested: ["system/*.read"], registered: registered) == [
                "system/Patient.rs", "system/MedicationDispense.read", "system/Observation.rs?category=laboratory",
            ])
        #expect(ScopeMediation.grant(requested: ["system/*.c"], registered: registered) == ["system/MedicationDispense.c"])
        #expect(ScopeMediation.grant(requested: ["system/*.d"], registered: ["system/Patient.rs"]).isEmpty)
        // A requested constraint must be the registered one; narrowing never drops a registered constraint.
        #expect(
            ScopeMediation.grant(requested: ["system/*.rs?category=vital-signs"], registered: registered).isEmpty)
        // TOK-05: a broad request next to the registered scope yields exactly the registration, once.
        #expect(
            ScopeMediation.grant(
                requested: ["system/*.cruds", "system/MedicationDispense.rs", "user/*.*", "launch/patient"],
                registered: ["system/MedicationDispense.rs"]) == ["system/MedicationDispense.rs"])
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
        #expect(ScopeMediation.grant(requested: ["system/Observation.rs"], registered: registered) == registered)
        #expect(ScopeMediation.grant(requested: ["system/Observation.r"], registered: registered).isEmpty)
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
