import Testing

@testable import FHIR

@Suite("Canonical request targets (PATH-01, PATH-03, PATH-05, PATH-06)")
struct CanonicalTargetTests {
    @Test(
        "encoded slashes, encoded and raw dot-segments and backslashes are 400 (PATH-01)",
        arguments: [
            "/fhir/metadata/..%2FPatient%2Fpt-bob", "/fhir/metadata/%2e%2e/Patient/pt-bob",
            "/fhir/.well-known/smart-configuration/%2e%2e/%2e%2e/Patient/pt-bob",
            "/fhir/metadata/%252e%252e/Patient/pt-bob", "/fhir/metadata/..%5CPatient%5Cpt-bob",
            "/fhir/metadata/../Patient/pt-bob", "/fhir/Patient/pt-alice/..%2Fpt-bob",
        ])
    func encodedTraversal(target: String) {
        #expect(refusal("GET", target)?.status == 400)
    }

    @Test(
        "double slashes, case of base or type, trailing slash, dot segments, backslashes are 400 (PATH-03)",
        arguments: [
            "//fhir/Patient/pt-bob", "/fhir//Patient/pt-bob", "/FHIR/Patient/pt-bob", "/fhir/patient/pt-bob",
            "/fhir/Patient/pt-bob/", "/fhir/./Patient/pt-bob", "/fhir/Patient/pt-bob/.", "/fhir\\Patient\\pt-bob",
            "/fhir/Patient/pt-bob;jsessionid=1", "/fhir/Patient/pt-bob#x", "fhir/Patient/pt-bob",
        ])
    func nonCanonical(target: String) {
        #expect(refusal("GET", target)?.status == 400)
    }

    @Test("the canonical form classifies; an id in another case is just another id (PATH-03 control)")
    func canonicalControl() throws {
        let alice = try classify("GET", "/fhir/Patient/pt-alice")
        #expect(alice.kind == .read && alice.resourceType == "Patient" && alice.patients == ["pt-alice"])
        #expect(try classify("GET", "/fhir/Patient/PT-BOB").patients == ["PT-BOB"])
    }

    @Test("method override headers and the _method parameter are refused (PATH-05)")
    func methodOverride() {
        for header in ["X-HTTP-Method-Override", "X-HTTP-Method", "x-method-override"] {
            #expect(
                refusal("GET", "/fhir/MedicationRequest/mr-alice-1", headerNames: ["Accept", header])?.status == 400)
        }
        #expect(refusal("POST", "/fhir/MedicationRequest/mr-alice-1?_method=DELETE") != nil)
        let form = refusal(
            "POST", "/fhir/MedicationRequest/_search", contentType: "application/x-www-form-urlencoded",
            body: "_method=DELETE")
        #expect(form?.status == 400)
    }

    @Test("lowercase methods are 400, unknown methods 405 (PATH-06)")
    func methods() {
        #expect(refusal("get", "/fhir/Patient/pt-alice")?.status == 400)
        #expect(refusal("TRACE", "/fhir/metadata")?.status == 405)
        #expect(refusal("PROPFIND", "/fhir")?.status == 405)
        #expect((try? classify("HEAD", "/fhir/Patient/pt-bob"))?.patients == ["pt-bob"])
    }

    @Test("query decoding is strict: malformed escapes, empty pieces and missing '=' are 400")
    func strictQuery() {
        #expect(refusal("GET", "/fhir/MedicationDispense?patient=pt-alice&")?.status == 400)
        #expect(refusal("GET", "/fhir/MedicationDispense?patient=pt-alice&&status=completed")?.status == 400)
        #expect(refusal("GET", "/fhir/MedicationDispense?patient=%zz")?.status == 400)
        #expect(refusal("GET", "/fhir/MedicationDispense?patient")?.status == 400)
        #expect(refusal("GET", "/fhir/MedicationDispense?patient=pt-alice%00")?.status == 400)
        #expect(refusal("GET", "/fhir/MedicationDispense?patient=")?.status == 400)
    }

    @Test("percent-encoded parameter names and values are decoded before they are judged")
    func decodedNames() throws {
        #expect(refusal("GET", "/fhir/Patient?%5Fhas:MedicationDispense:patient:code=x")?.status == 403)
        let interaction = try classify("GET", "/fhir/MedicationDispense?patient=Patient%2Fpt-alice")
        #expect(interaction.patients == ["pt-alice"])
    }
}
