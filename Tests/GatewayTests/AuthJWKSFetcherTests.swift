// The HTTPS JWKS fetcher's guarantees against a real TLS server (the recorder behind a private CA): the
// configured CA is trusted and nothing else, https only, no redirects followed, a body cap, and max-age.

import Foundation
import Gateway
import GatewayCore
import GatewayTesting
import SMART
import Testing

@Suite("HTTPS JWKS fetcher (curl): CA, https only, no redirects, size cap, max-age")
struct AuthJWKSFetcherTests {
    let setup = AuthGateway.setup
    var base: String { "https://127.0.0.1:\(setup.jwksServer.port)" }

    func fetch(_ url: String, ca: String?, maxBodyBytes: Int = 256 * 1024) async -> Result<JWKSDocument, any Error> {
        let fetcher = HTTPSJWKSFetcher(caFiles: ca.map { [url: $0] } ?? [:], maxBodyBytes: maxBodyBytes)
        return await withCheckedContinuation { continuation in
            fetcher.fetch(url: url) { continuation.resume(returning: $0) }
        }
    }

    func serve(_ path: String, status: Int = 200, headers: JSONValue = [:], body: String) throws {
        try setup.jwksServer.respond(["method": "GET", "path": .string(path), "status": .number(String(status)),
                                      "headers": headers, "body": .string(body)])
    }

    @Test("the configured CA verifies the server and max-age is read from Cache-Control")
    func trustedFetch() async throws {
        let path = "/fetch-\(RandomID.hex128().prefix(8)).json"
        try serve(path, headers: ["Cache-Control": "public, max-age=120"], body: "{\"keys\":[]}")
        let document = try await fetch(base + path, ca: setup.jwksPKI.caCertificate).get()
        #expect(document.body == Array("{\"keys\":[]}".utf8))
        #expect(document.maxAge == 120)
    }

    @Test("without the issuer's CA, over http, through a redirect or past the size cap the fetch fails")
    func refusedFetches() async throws {
        let tag = RandomID.hex128().prefix(8)
        try serve("/ok-\(tag)", body: "{\"keys\":[]}")
        try serve("/redirect-\(tag)", status: 302, headers: ["Location": .string(base + "/ok-\(tag)")], body: "")
        try serve("/big-\(tag)", body: "{\"keys\":[],\"pad\":\"" + String(repeating: "x", count: 4096) + "\"}")
        let ca = setup.jwksPKI.caCertificate
        var failures: [(String, Result<JWKSDocument, any Error>)] = []
        failures.append(("system trust store", await fetch(base + "/ok-\(tag)", ca: nil)))
        let otherCA = setup.harness.pki.caCertificate
        failures.append(("the gateway's test CA", await fetch(base + "/ok-\(tag)", ca: otherCA)))
        failures.append(("plain http", await fetch("http://127.0.0.1:\(setup.jwksServer.port)/ok-\(tag)", ca: ca)))
        failures.append(("redirect", await fetch(base + "/redirect-\(tag)", ca: ca)))
        failures.append(("over the cap", await fetch(base + "/big-\(tag)", ca: ca, maxBodyBytes: 1024)))
        for (label, result) in failures {
            if case .success = result { Issue.record("\(label): the fetch succeeded") }
        }
        // The redirect target was never requested: redirects are not followed.
        let okFetches = try setup.jwksServer.requests().filter { $0.target == "/ok-\(tag)" }
        #expect(okFetches.isEmpty, "\(okFetches.count) request(s) reached the redirect target or passed untrusted TLS")
    }
}
