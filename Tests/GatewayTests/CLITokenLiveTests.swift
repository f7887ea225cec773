import Foundation
import GatewayCore
import GatewayCrypto
import JOSE
import Testing
@testable import Gateway

/// `pdmp-gateway token` against a real gateway in this process: TLS with a certificate made at test time,
/// a key made by `keys generate`, a requester registered by `clients add`.
@Suite("pdmp-gateway token against a running gateway",
       .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl")))
struct CLITokenLiveTests {
    /// A self-signed certificate for 127.0.0.1 (openssl sets CA:TRUE, so it is its own trust anchor).
    static func makeCertificate(in dir: TemporaryDirectory, name: String) throws -> (cert: String, key: String) {
        let cert = dir.file("\(name)-cert.pem")
        let key = dir.file("\(name)-key.pem")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
            "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CommandFailure("openssl req failed") }
        return (cert, key)
    }

    @Test("a registered client gets a token over TLS with --cacert; an untrusted CA and an unknown client fail")
    func journey() throws {
        let dir = try TemporaryDirectory()
        let tls = try Self.makeCertificate(in: dir, name: "server")
        let other = try Self.makeCertificate(in: dir, name: "other")
        let port = try OneShotHTTPServer.unusedPort()
        try FileManager.default.copyItem(atPath: CLIPolicyTests.repositoryRoot + "/policies",
                                         toPath: dir.file("policies"))
        let config = try dir.write("gateway.yaml", """
            listen:
              address: 127.0.0.1
              port: \(port)
              tls: {certificate: \(tls.cert), private_key: \(tls.key)}
            admin: {port: 0}
            upstream: {url: "http://127.0.0.1:1/fhir"}
            event_loops: 1
            auth: {signing_keys: keys, clients: clients.yaml}
            audit: {directory: audit}

            """)
        #expect(runCLI(["keys", "generate", "--alg", "ES384", "--out", dir.file("keys")]).status == 0)
        let clientKey = try PrivateKey.generateEC(.p384)
        let keyFile = try dir.write("carol-2026.pem", try clientKey.pkcs8PEM())
        let publicFile = try dir.write("carol-2026.pub", try clientKey.publicPEM())
        let added = runCLI([
            "clients", "add", "dr-carol", "--role", "prescriber", "--scope", "system/*.rs", "--public-key", publicFile,
            "--config", config,
        ])
        #expect(added.status == 0, "\(added.err)")
        let narrow = runCLI([
            "clients", "add", "dr-dave", "--role", "prescriber", "--scope", "system/MedicationDispense.rs",
            "--scope", "system/Patient.read", "--public-key", publicFile, "--config", config,
        ])
        #expect(narrow.status == 0, "\(narrow.err)")

        let runtime = try GatewayRuntime(configPath: config, logger: .disabled)
        defer { runtime.drain(timeoutSeconds: 2) }
        let tokenURL = "https://127.0.0.1:\(port)/auth/token"

        // No --kid on either side: both default to the key's RFC 7638 thumbprint.
        let issued = runCLI([
            "token", "--client", "dr-carol", "--key", keyFile, "--token-url", tokenURL, "--cacert", tls.cert,
            "--scope", "system/Patient.rs",
        ])
        #expect(issued.status == 0, "\(issued.err)")
        let token = issued.out.trimmingCharacters(in: .newlines)
        let jws = try CompactJWS.parse(token)
        let claims = try JSONValue.parse(jws.payload)
        #expect(claims["client_id"]?.stringValue == "dr-carol")
        #expect(claims["scope"]?.stringValue == "system/Patient.rs")
        #expect(claims["aud"]?.stringValue == "https://127.0.0.1:\(port)/fhir")
        #expect(claims["iss"]?.stringValue == "https://127.0.0.1:\(port)")

        // The default scope (system/*.rs) is narrowed to what the client is registered for (SMART 2.2 §2.2).
        let defaulted = runCLI([
            "token", "--client", "dr-dave", "--key", keyFile, "--token-url", tokenURL, "--cacert", tls.cert,
        ])
        #expect(defaulted.status == 0, "\(defaulted.err)")
        let defaultedClaims = try JSONValue.parse(
            try CompactJWS.parse(defaulted.out.trimmingCharacters(in: .newlines)).payload)
        #expect(defaultedClaims["scope"]?.stringValue == "system/MedicationDispense.rs system/Patient.read")

        let untrusted = runCLI([
            "token", "--client", "dr-carol", "--key", keyFile, "--token-url", tokenURL, "--cacert", other.cert,
        ])
        #expect(untrusted.status == 1)
        #expect(untrusted.out.isEmpty)
        #expect(untrusted.err.contains("cannot reach \(tokenURL)"))

        let unknown = runCLI([
            "token", "--client", "dr-nobody", "--key", keyFile, "--token-url", tokenURL, "--cacert", tls.cert,
        ])
        #expect(unknown.status == 1)
        #expect(unknown.out.isEmpty)
        #expect(unknown.err.contains("invalid_client"))
    }

    @Test("--request-bodies N prints N token requests that the gateway accepts once each, and posts nothing")
    func requestBodies() throws {
        let dir = try TemporaryDirectory()
        let tls = try Self.makeCertificate(in: dir, name: "server")
        let port = try OneShotHTTPServer.unusedPort()
        try FileManager.default.copyItem(atPath: CLIPolicyTests.repositoryRoot + "/policies",
                                         toPath: dir.file("policies"))
        let config = try dir.write("gateway.yaml", """
            listen:
              address: 127.0.0.1
              port: \(port)
              tls: {certificate: \(tls.cert), private_key: \(tls.key)}
            admin: {port: 0}
            upstream: {url: "http://127.0.0.1:1/fhir"}
            event_loops: 1
            auth: {signing_keys: keys, clients: clients.yaml}
            audit: {directory: audit}

            """)
        #expect(runCLI(["keys", "generate", "--alg", "ES384", "--out", dir.file("keys")]).status == 0)
        let clientKey = try PrivateKey.generateRSA(bits: 2048)
        let keyFile = try dir.write("lt-client.pem", try clientKey.pkcs8PEM())
        let publicFile = try dir.write("lt-client.pub", try clientKey.publicPEM())
        let added = runCLI([
            "clients", "add", "lt-client", "--role", "prescriber", "--scope", "system/*.rs", "--public-key", publicFile,
            "--kid", "lt-1", "--alg", "RS384", "--config", config,
        ])
        #expect(added.status == 0, "\(added.err)")
        let tokenURL = "https://127.0.0.1:\(port)/auth/token"
        // Printed while nothing listens on the port: the option must not contact the endpoint.
        let printed = runCLI([
            "token", "--client", "lt-client", "--key", keyFile, "--kid", "lt-1", "--token-url", tokenURL,
            "--request-bodies", "3",
        ])
        #expect(printed.status == 0, "\(printed.err)")
        let bodies = printed.out.split(separator: "\n").map(String.init)
        #expect(bodies.count == 3)
        #expect(Set(bodies).count == 3)

        let runtime = try GatewayRuntime(configPath: config, logger: .disabled)
        defer { runtime.drain(timeoutSeconds: 2) }
        let url = try #require(URL(string: tokenURL))
        for body in bodies {
            let response = try TokenTransport.post(url: url, body: body, caFile: tls.cert, timeout: 30)
            #expect(response.status == 200, "\(String(decoding: response.body, as: UTF8.self))")
        }
        // Each body carries its own jti: sending one again is a replay and is refused (RFC 7523 §3).
        let replayed = try TokenTransport.post(url: url, body: bodies[0], caFile: tls.cert, timeout: 30)
        #expect(replayed.status == 400 || replayed.status == 401)

        #expect(runCLI([
            "token", "--client", "lt-client", "--key", keyFile, "--token-url", tokenURL, "--request-bodies", "0",
        ]).status == 2)
        #expect(runCLI([
            "token", "--client", "lt-client", "--key", keyFile, "--token-url", tokenURL, "--request-bodies", "2",
            "--cacert", tls.cert,
        ]).status == 2)
    }
}
