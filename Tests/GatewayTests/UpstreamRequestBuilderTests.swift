import GatewayHTTP
import Testing
@testable import Gateway

@Suite("Upstream request rebuilding")
struct UpstreamRequestBuilderTests {
    let context = ForwardingContext(peerAddress: "198.51.100.23", requestHost: "gw.example:8443", requestID: "req-1")

    @Test("client identity, forwarding, override and credential headers never reach the upstream (HDR-02, HDR-03, PATH-05)")
    func dropsClientHeaders() {
        let client = HTTPHeaders([
            ("Host", "gw.example:8443"), ("Authorization", "Bearer T_alice"), ("X-Gateway-Patient", "pt-bob"),
            ("X-Forwarded-User", "admin"), ("X-Auth-Request-User", "admin"), ("X-Real-IP", "10.0.0.1"),
            ("Proxy-Authorization", "Basic dGVzdDp0ZXN0"), ("X-Forwarded-For", "10.0.0.5, 203.0.113.77"),
            ("Forwarded", "for=1.2.3.4"), ("X-HTTP-Method-Override", "DELETE"), ("Cookie", "s=1"),
            ("Connection", "keep-alive, X-Foo"), ("X-Foo", "bar"), ("TE", "trailers"), ("Upgrade", "h2c"),
            ("Accept", "application/fhir+json"), ("Prefer", "return=minimal"), ("Accept-Encoding", "gzip"),
        ])
        let out = UpstreamRequestBuilder.build(
            method: "GET", upstreamTarget: "/r4/MedicationDispense?patient=pt-alice", headers: client, body: [],
            context: context, upstreamAuthorization: nil, allowCompression: false)
        let names = Set(out.headers.map { $0.name.lowercased() })
        #expect(names == ["accept", "prefer", "accept-encoding", "x-forwarded-for", "x-forwarded-proto",
                          "x-forwarded-host", "forwarded", "x-request-id"])
        #expect(out.headers["X-Forwarded-For"] == "198.51.100.23")
        #expect(out.headers["Forwarded"] == "for=198.51.100.23;proto=https;host=\"gw.example:8443\"")
        #expect(out.headers["Accept-Encoding"] == "identity")
        #expect(out.headers["X-Request-ID"] == "req-1")
        #expect(out.target == "/r4/MedicationDispense?patient=pt-alice")
    }

    @Test("the configured upstream credential replaces the client's")
    func upstreamCredential() {
        let out = UpstreamRequestBuilder.build(
            method: "GET", upstreamTarget: "/", headers: HTTPHeaders([("Authorization", "Bearer client")]), body: [],
            context: context, upstreamAuthorization: "Basic dXA6c3RyZWFt", allowCompression: true)
        #expect(out.headers.values("Authorization") == ["Basic dXA6c3RyZWFt"])
    }

    @Test("targets are rebuilt from parsed parts with percent-encoding")
    func targets() {
        let target = UpstreamRequestBuilder.upstreamTarget(
            basePath: "/r4", segments: ["MedicationDispense"],
            query: [("patient", "Patient/pt-alice"), ("code", "http://www.nlm.nih.gov/research/umls/rxnorm|1049621"),
                    ("note", "a&b=c d")])
        #expect(target == "/r4/MedicationDispense?patient=Patient/pt-alice&code=http://www.nlm.nih.gov/research/umls/rxnorm|1049621&note=a%26b%3Dc%20d")
        #expect(UpstreamRequestBuilder.upstreamTarget(basePath: "", segments: [], query: []) == "/")
    }
}
