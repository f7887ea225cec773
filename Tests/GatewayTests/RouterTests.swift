import GatewayCore
import Testing
@testable import Gateway

@Suite("Router and canonical paths")
struct RouterTests {
    let router = Router(fhirBasePath: "/fhir")

    func route(_ path: String) throws -> Route {
        try router.route(Router.canonicalSegments(Substring(path)))
    }

    @Test("non-canonical paths are refused before routing (PATH-01, PATH-03)", arguments: [
        "/fhir/metadata/..%2FPatient%2Fpt-bob", "/fhir/metadata/%2e%2e/Patient/pt-bob",
        "/fhir/.well-known/smart-configuration/%2e%2e/%2e%2e/Patient/pt-bob", "/fhir/metadata/%252e%252e/Patient/pt-bob",
        "/fhir/metadata/..%5CPatient%5Cpt-bob", "/fhir/metadata/../Patient/pt-bob", "/fhir/Patient/pt-alice/..%2Fpt-bob",
        "//fhir/Patient/pt-bob", "/fhir//Patient/pt-bob", "/FHIR/Patient/pt-bob", "/fhir/Patient/pt-bob/",
        "/fhir/./Patient/pt-bob", "/fhir/Patient/pt-bob/.", "/fhir\\Patient\\pt-bob", "/fhir/Patient;x=1/pt-bob",
        "fhir/Patient", "/auth/token/", "/fhir/Patient/a b",
    ])
    func refused(path: String) {
        #expect(throws: GatewayError.self) { try route(path) }
    }

    @Test("front endpoints match whole segments")
    func routes() throws {
        #expect(try route("/.well-known/smart-configuration") == .smartConfiguration)
        #expect(try route("/fhir/.well-known/smart-configuration") == .smartConfiguration)
        #expect(try route("/auth/token") == .token)
        #expect(try route("/auth/jwks") == .jwks)
        #expect(try route("/auth/introspect") == .introspect)
        #expect(try route("/fhir/metadata") == .capabilities)
        #expect(try route("/fhir") == .fhir(segments: []))
        #expect(try route("/fhir/Patient/pt-alice") == .fhir(segments: ["Patient", "pt-alice"]))
        #expect(try route("/fhir/$pdmp-history") == .fhir(segments: ["$pdmp-history"]))
        #expect(try route("/fhirx/Patient") == .notFound)
        #expect(try route("/auth/tokens") == .notFound)
        #expect(try route("/") == .notFound)
    }
}
