// The HTTP transport that ships audit Bundles (issue #7 §3): which repository URLs it accepts, what it
// sends on the wire (checked with the recording upstream), and that an unusable URL stops start-up.

import Audit
import Foundation
import GatewayCore
import GatewayIO
import GatewayTesting
import Testing

@testable import Gateway

@Suite("Audit HTTP transport")
struct AuditTransportTests {
    @Test("repository URLs: http(s) with host, port and base path; no other scheme, credentials or query")
    func endpointParsing() throws {
        let plain = try #require(HTTPAuditTransport.Endpoint("http://127.0.0.1:8099/fhir"))
        #expect(plain.scheme == "http")
        #expect(plain.host == "127.0.0.1")
        #expect(plain.port == 8099)
        #expect(plain.target == "/fhir")
        let secure = try #require(HTTPAuditTransport.Endpoint("https://audit.example.gov"))
        #expect(secure.port == 443)
        #expect(secure.target == "/")
        for bad in ["ftp://audit.example.gov/fhir", "http://user:pw@audit.example.gov/fhir",
                    "http://audit.example.gov/fhir?x=1", "audit.example.gov/fhir", "http:///fhir", ""] {
            #expect(HTTPAuditTransport.Endpoint(bad) == nil, "\(bad)")
        }
    }

    @Test("a batch Bundle is POSTed to the base as application/fhir+json and the answer comes back")
    func postsBundle() throws {
        let recorder = try UpstreamRecorder(repositoryRoot: GatewayHarness.repositoryRoot)
        defer { recorder.stop() }
        try recorder.respond([
            "method": "POST", "path": "/fhir", "status": 200,
            "headers": ["Content-Type": "application/fhir+json"],
            "body": ["resourceType": "Bundle", "type": "batch-response", "entry": []],
        ])
        let group = EventLoopGroup(count: 1)
        defer { group.shutdown() }
        let transport = try HTTPAuditTransport(url: recorder.baseURL, loop: group.loops[0])
        let bundle = Array(#"{"resourceType":"Bundle","type":"batch","entry":[]}"#.utf8)
        let done = DispatchSemaphore(value: 0)
        let outcome = ResultBox()
        transport.post(bundle: bundle) { result in
            outcome.set(result)
            done.signal()
        }
        #expect(done.wait(timeout: .now() + 20) == .success)
        let response = try #require(try outcome.get())
        #expect(response.status == 200)
        #expect((try? JSONValue.parse(response.body))?["type"] == "batch-response")
        let seen = try recorder.requests()
        #expect(seen.count == 1)
        #expect(seen.first?.method == "POST")
        #expect(seen.first?.target == "/fhir")
        #expect(seen.first?.header("Content-Type") == "application/fhir+json")
        #expect(seen.first?.body == bundle)
        transport.close()
    }

    @Test("a refused connection is reported as a failure, not a hang")
    func connectionRefused() throws {
        let group = EventLoopGroup(count: 1)
        defer { group.shutdown() }
        let port = try GatewayHarness.freePort()
        let transport = try HTTPAuditTransport(url: "http://127.0.0.1:\(port)/fhir", loop: group.loops[0])
        let done = DispatchSemaphore(value: 0)
        let outcome = ResultBox()
        transport.post(bundle: Array("{}".utf8)) { result in
            outcome.set(result)
            done.signal()
        }
        #expect(done.wait(timeout: .now() + 20) == .success)
        #expect(throws: (any Error).self) { try outcome.get() }
        transport.close()
    }

    @Test("an unusable audit.repository_url stops the gateway at start-up")
    func badURLRefusesStart() {
        let error = #expect(throws: (any Error).self) {
            _ = try GatewayHarness(
                auditConfig: "audit:\n  directory: audit\n  repository_url: ftp://audit.example.gov\n")
        }
        #expect("\(error.map { "\($0)" } ?? "")".contains("audit.repository_url"))
    }
}

/// One transport result, handed across threads.
final class ResultBox: @unchecked Sendable {
    // Safe: every access holds `lock`.
    private let lock = NSLock()
    private var result: Result<AuditTransportResponse, any Error>?

    func set(_ value: Result<AuditTransportResponse, any Error>) {
        lock.lock()
        result = value
        lock.unlock()
    }

    func get() throws -> AuditTransportResponse? {
        lock.lock()
        defer { lock.unlock() }
        return try result?.get()
    }
}
