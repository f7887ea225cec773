// The proxy core from the outside (issue #2): real TLS, real curl and openssl clients, a recording
// upstream. Each request carries its own X-Request-ID so that tests sharing one gateway can find exactly
// what the upstream received for them.

import Foundation
import GatewayCore
import GatewayTesting
import Testing

/// One gateway for the whole suite (starting one costs a test CA and a few processes).
enum SharedGateway {
    static let npi = "1234567893"
    static let harness: GatewayHarness = {
        do {
            return try GatewayHarness(clients: [
            .init(id: "app-1", scopes: ["system/MedicationDispense.rs", "system/Patient.rs", "system/MedicationRequest.rs"],
                  npis: [npi], roles: ["prescriber"]),
            .init(id: "app-suspended", scopes: ["system/MedicationDispense.rs"], status: "suspended"),
            ])
        } catch {
            fatalError("gateway harness did not start: \(error)")
        }
    }()
}

extension GatewayHarness {
    /// Upstream requests that carried `requestID`.
    func upstream(for requestID: String) throws -> [UpstreamRecorder.Request] {
        try upstreamRequests().filter { $0.header("X-Request-ID") == requestID }
    }

    /// A GET with a fresh request id; returns the response and what the upstream saw for it.
    func get(_ path: String, bearer: String?, headers: [(String, String)] = []) throws
        -> (ClientResponse, [UpstreamRecorder.Request])
    {
        let id = "t-" + RandomID.hex128()
        let response = try request("GET", path, headers: [("X-Request-ID", id)] + headers, bearer: bearer)
        return (response, try upstream(for: id))
    }
}

@Suite("Proxy core through real TLS")
struct ProxyIntegrationTests {
    let gw = SharedGateway.harness

    func appToken() throws -> String {
        try gw.token(client: "app-1", scopes: ["system/MedicationDispense.rs", "system/Patient.rs"])
    }

    @Test("an allowed search reaches the upstream rebuilt, and its answer comes back through TLS")
    func allowedSearch() throws {
        let (response, seen) = try gw.get("/fhir/MedicationDispense?patient=pt-alice", bearer: appToken())
        #expect(response.status == 200)
        #expect(response.json?["resourceType"] == "Bundle")
        #expect(seen.count == 1)
        let upstream = try #require(seen.first)
        #expect(upstream.method == "GET")
        #expect(upstream.target.hasPrefix("/fhir/MedicationDispense?patient=pt-alice"))
        #expect(upstream.header("Authorization") == nil)
        #expect(upstream.headerValues("X-Forwarded-For") == ["127.0.0.1"])
        #expect(upstream.header("X-Forwarded-Proto") == "https")
        #expect(response.header("X-Request-ID") == upstream.header("X-Request-ID"))
    }

    @Test("no token: 401 with a Bearer challenge and an OperationOutcome; the upstream sees nothing")
    func missingToken() throws {
        let (response, seen) = try gw.get("/fhir/MedicationDispense?patient=pt-alice", bearer: nil)
        #expect(response.status == 401)
        #expect(response.header("WWW-Authenticate")?.hasPrefix("Bearer") == true)
        #expect(response.json?["resourceType"] == "OperationOutcome")
        #expect(seen.isEmpty)
    }

    @Test("client identity and forwarding headers are dropped, XFF is the real peer (HDR-02, HDR-03)")
    func headerHygiene() throws {
        let (response, seen) = try gw.get(
            "/fhir/MedicationDispense?patient=pt-alice", bearer: appToken(),
            headers: [("X-Gateway-Patient", "pt-bob"), ("X-Forwarded-User", "admin"), ("X-Auth-Request-User", "admin"),
                      ("X-Real-IP", "10.0.0.1"), ("Proxy-Authorization", "Basic dGVzdDp0ZXN0"),
                      ("X-Forwarded-For", "10.0.0.5, 203.0.113.77"), ("Forwarded", "for=10.9.9.9")])
        #expect(response.status == 200)
        let upstream = try #require(seen.first)
        for name in ["X-Gateway-Patient", "X-Forwarded-User", "X-Auth-Request-User", "X-Real-IP", "Proxy-Authorization"] {
            #expect(upstream.header(name) == nil, "\(name) reached the upstream")
        }
        #expect(upstream.headerValues("X-Forwarded-For") == ["127.0.0.1"])
        #expect(upstream.header("Forwarded")?.hasPrefix("for=127.0.0.1;") == true)
    }

    @Test("two Authorization headers are refused with 400 (HDR-02)")
    func twoAuthorizationHeaders() throws {
        let token = try appToken()
        let (response, seen) = try gw.get(
            "/fhir/MedicationDispense?patient=pt-alice", bearer: token,
            headers: [("Authorization", "Bearer \(token)")])
        #expect(response.status == 400)
        #expect(seen.isEmpty)
    }

    @Test("non-canonical paths are 400 and never forwarded (PATH-01, PATH-03)", arguments: [
        "/fhir/metadata/..%2FPatient%2Fpt-bob", "/fhir/metadata/%2e%2e/Patient/pt-bob",
        "/fhir/.well-known/smart-configuration/%2e%2e/%2e%2e/Patient/pt-bob", "/fhir/metadata/%252e%252e/Patient/pt-bob",
        "/fhir/metadata/..%5CPatient%5Cpt-bob", "/fhir/metadata/../Patient/pt-bob", "//fhir/Patient/pt-bob",
        "/fhir//Patient/pt-bob", "/FHIR/Patient/pt-bob", "/fhir/patient/pt-bob", "/fhir/Patient/pt-bob/",
        "/fhir/./Patient/pt-bob", "/fhir/Patient/pt-bob/.",
    ])
    func nonCanonicalPaths(path: String) throws {
        let (response, seen) = try gw.get(path, bearer: appToken())
        #expect(response.status == 400)
        #expect(seen.isEmpty)
    }

    @Test("a suspended requester's token is refused before the upstream")
    func suspendedClient() throws {
        let token = try gw.token(client: "app-suspended", scopes: ["system/MedicationDispense.rs"])
        let (response, seen) = try gw.get("/fhir/MedicationDispense?patient=pt-alice", bearer: token)
        #expect(response.status == 401 || response.status == 403)
        #expect(seen.isEmpty)
    }

    @Test("discovery is answered by the gateway at the root and under the FHIR base, never proxied")
    func discovery() throws {
        for path in ["/.well-known/smart-configuration", "/fhir/.well-known/smart-configuration"] {
            let (response, seen) = try gw.get(path, bearer: nil)
            #expect(response.status == 200)
            #expect(response.json?["token_endpoint"]?.stringValue == gw.tokenURL)
            #expect(seen.isEmpty)
        }
    }

    @Test("an upstream that does not answer in time gives 504; one that drops the connection gives 502")
    func upstreamFailures() throws {
        let recorder = try #require(gw.recorder)
        try recorder.respond(["method": "GET", "prefix": "/fhir/Patient/slow", "delayMs": 7000, "times": 1])
        try recorder.respond(["method": "GET", "prefix": "/fhir/Patient/dropped", "action": "close", "times": 2])
        let slow = try gw.request("GET", "/fhir/Patient/slow", bearer: appToken())
        #expect(slow.status == 504)
        #expect(slow.json?["resourceType"] == "OperationOutcome")
        let dropped = try gw.request("GET", "/fhir/Patient/dropped", bearer: appToken())
        #expect(dropped.status == 502)
    }
}

@Suite("HTTP/1.1 framing attacks over TLS")
struct FramingIntegrationTests {
    let gw = SharedGateway.harness

    func marker() -> String { "smg-" + RandomID.hex128() }

    func sawNothing(_ marker: String) throws -> Bool {
        try gw.upstreamRequests().allSatisfy { !$0.target.contains(marker) && !String(decoding: $0.body, as: UTF8.self).contains(marker) }
    }

    @Test("both Content-Length and Transfer-Encoding: 400, connection closed, nothing forwarded (SMG-01)")
    func clAndTE() throws {
        let m = marker()
        let raw = "POST /fhir/Patient/_search HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n"
            + "Content-Type: application/x-www-form-urlencoded\r\n\r\n0\r\n\r\nGET /fhir/Patient/\(m) HTTP/1.1\r\nHost: localhost\r\n\r\n"
        let reply = try gw.raw(Array(raw.utf8))
        #expect(GatewayHarness.statuses(in: reply) == [400])
        #expect(try sawNothing(m))
    }

    @Test("duplicate or malformed Content-Length: 400 (SMG-03)", arguments: [
        "Content-Length: 5\r\nContent-Length: 6", "Content-Length: 5, 5", "Content-Length: +5", "Content-Length: 0x5",
    ])
    func badContentLength(header: String) throws {
        let m = marker()
        let raw = "POST /fhir/\(m) HTTP/1.1\r\nHost: localhost\r\n\(header)\r\n\r\nhello"
        #expect(GatewayHarness.statuses(in: try gw.raw(Array(raw.utf8))) == [400])
        #expect(try sawNothing(m))
    }

    @Test("a body on GET is refused rather than left to desynchronise the connection (SMG-04)")
    func bodyOnGet() throws {
        let m = marker()
        let raw = "GET /fhir/metadata HTTP/1.1\r\nHost: localhost\r\nContent-Length: 40\r\n\r\nGET /fhir/Patient/\(m) HTTP/1.1\r\nX: y\r\n\r\n"
        let statuses = GatewayHarness.statuses(in: try gw.raw(Array(raw.utf8)))
        #expect(statuses == [400])
        #expect(try sawNothing(m))
    }

    @Test("h2c upgrade requests are refused (SMG-08)")
    func h2cUpgrade() throws {
        let m = marker()
        let raw = "GET /fhir/Patient/\(m) HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n"
        let statuses = GatewayHarness.statuses(in: try gw.raw(Array(raw.utf8)))
        #expect(statuses.first.map { $0 >= 400 } == true)
        #expect(try sawNothing(m))
    }

    @Test("TRACE and unknown methods are 405/501, lowercase methods 400 or 501 (PATH-06)")
    func methods() throws {
        let trace = try gw.raw(Array("TRACE /fhir/metadata HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8))
        #expect(GatewayHarness.statuses(in: trace) == [405])
        let propfind = try gw.raw(Array("PROPFIND /fhir/ HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8))
        #expect(GatewayHarness.statuses(in: propfind).first.map { $0 == 405 || $0 == 501 } == true)
        let lower = try gw.raw(Array("get /fhir/Patient/pt-alice HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8))
        #expect(GatewayHarness.statuses(in: lower).first.map { $0 == 400 || $0 == 501 } == true)
    }

    @Test(
        "every 405 carries the Allow header (RFC 9110 §15.5.6), over HTTP/1.1 and h2; the token endpoint's is OAuth JSON",
        arguments: [
            ("TRACE", "/fhir/metadata", "GET, HEAD, POST, PUT, PATCH, DELETE"),
            ("PUT", "/fhir/metadata", "GET, HEAD"),
            ("GET", "/fhir/$pdmp-history", "POST"),
            ("DELETE", "/fhir/Patient/pt-alice/_history/1", "GET, HEAD"),
            ("GET", "/auth/token", "POST"),
            ("GET", "/auth/introspect", "POST"),
            ("POST", "/.well-known/smart-configuration", "GET, HEAD"),
        ] as [(String, String, String)], [false, true])
    func allowHeader(target: (method: String, path: String, allow: String), h2: Bool) throws {
        let (method, path, allow) = target
        // FHIR URLs are classified after the token check, so those requests carry a valid token.
        let token = try gw.token(client: "app-1", scopes: ["system/MedicationDispense.rs", "system/Patient.rs"])
        let response = try gw.request(
            method, path, bearer: path.hasPrefix("/fhir/") ? token : nil, extraCurlArguments: h2 ? ["--http2"] : [])
        #expect(response.status == 405, "\(method) \(path): \(response.status) \(response.text)")
        #expect(response.header("Allow") == allow, "\(method) \(path)")
        if path.hasPrefix("/auth/") {
            #expect(response.json?["error"]?.stringValue == "invalid_request", "\(response.text)")
        } else {
            #expect(response.json?["resourceType"]?.stringValue == "OperationOutcome", "\(response.text)")
        }
    }

    @Test("oversized header block 431, oversized request line 414 (HDR-05)")
    func oversized() throws {
        let cookie = "GET /fhir/metadata HTTP/1.1\r\nHost: localhost\r\nCookie: \(String(repeating: "a", count: 64 * 1024))\r\n\r\n"
        #expect(GatewayHarness.statuses(in: try gw.raw(Array(cookie.utf8))) == [431])
        let many = "GET /fhir/metadata HTTP/1.1\r\nHost: localhost\r\n" + (0..<5000).map { "X-\($0): y\r\n" }.joined() + "\r\n"
        #expect(GatewayHarness.statuses(in: try gw.raw(Array(many.utf8))) == [431])
        let line = "GET /fhir/Patient?name=\(String(repeating: "a", count: 100 * 1024)) HTTP/1.1\r\nHost: localhost\r\n\r\n"
        #expect(GatewayHarness.statuses(in: try gw.raw(Array(line.utf8))) == [414])
    }
}

@Suite("CapabilityStatement through the gateway")
struct CapabilityIntegrationTests {
    let gw = SharedGateway.harness

    @Test("metadata names only the gateway, advertises only allowed operations, and carries the SMART section")
    func metadata() throws {
        let recorder = try #require(gw.recorder)
        let upstream = recorder.baseURL
        try recorder.respond([
            "method": "GET", "path": "/fhir/metadata", "headers": ["Content-Type": "application/fhir+json"],
            "body": [
                "resourceType": "CapabilityStatement", "url": .string(upstream + "/metadata"),
                "implementation": ["url": .string(upstream)],
                "rest": [[
                    "mode": "server",
                    "operation": [["name": "export", "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"],
                                  ["name": "process-message", "definition": "http://hl7.org/fhir/OperationDefinition/MessageHeader-process-message"]],
                    "resource": [["type": "Patient", "operation": [["name": "everything", "definition": "x"]]]],
                ]],
                "messaging": [["endpoint": [["address": .string(upstream + "/$process-message")]]]],
            ],
        ])
        let response = try gw.request("GET", "/fhir/metadata")
        #expect(response.status == 200)
        #expect(!response.text.contains("127.0.0.1:\(recorder.port)"))
        let statement = try #require(response.json)
        #expect(statement["url"]?.stringValue == gw.fhirBase + "/metadata")
        let operations = statement["rest"]?.arrayValue?.first?["operation"]?.arrayValue?.compactMap { $0["name"]?.stringValue }
        #expect(operations == ["process-message"])
        #expect(statement["rest"]?.arrayValue?.first?["resource"]?.arrayValue?.first?["operation"] == nil)
        let security = statement["rest"]?.arrayValue?.first?["security"]
        #expect(security?["extension"]?.arrayValue?.first?["extension"]?.arrayValue?.first?["valueUri"]?.stringValue == gw.tokenURL)
    }
}
