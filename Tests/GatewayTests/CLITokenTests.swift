import Dispatch
import Foundation
import GatewayCore
import GatewayCrypto
import GatewayTesting
import JOSE
import Synchronization
import Testing
@testable import Gateway

#if canImport(Glibc)
import Glibc
#endif

/// A loopback HTTP/1.1 server that answers exactly one request with a fixed response and keeps the request.
final class OneShotHTTPServer: Sendable {
    /// The request, set by the server thread.
    final class Capture: Sendable {
        let request = Mutex<String?>(nil)
    }

    let port: Int
    private let captured = Capture()
    private let done = DispatchSemaphore(value: 0)

    init(status: Int, body: String) throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw CommandFailure("socket failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(listener, socketAddress, length) == 0 && listen(listener, 4) == 0
                    && getsockname(listener, socketAddress, &length) == 0
            }
        }
        guard bound else { throw CommandFailure("bind failed") }
        port = Int(UInt16(bigEndian: address.sin_port))
        let response = "HTTP/1.1 \(status) Status\r\nContent-Type: application/json\r\nContent-Length: "
            + "\(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        let captured = captured
        let done = done
        Thread {
            let request = Self.serveOne(listener, response: response)
            captured.request.withLock { $0 = request }
            close(listener)
            done.signal()
        }.start()
    }

    /// A loopback port that nothing listens on (bound, then closed without listening).
    static func unusedPort() throws -> Int {
        let probe = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(probe) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(probe, $0, length) == 0 && getsockname(probe, $0, &length) == 0
            }
        }
        guard bound else { throw CommandFailure("bind failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// The request as received (head and body), once it has been answered.
    func request(timeout: Double = 10) -> String? {
        guard done.wait(timeout: .now() + timeout) == .success else { return nil }
        return captured.request.withLock { $0 }
    }

    private static func serveOne(_ listener: Int32, response: String) -> String {
        let connection = accept(listener, nil, nil)
        guard connection >= 0 else { return "" }
        defer { close(connection) }
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        var continued = false
        while true {
            if let end = headEnd(data) {
                let head = String(decoding: data[..<end], as: UTF8.self).lowercased()
                let length = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                    .flatMap { Int($0.dropFirst(15).trimmingCharacters(in: .whitespaces)) } ?? 0
                if data.count >= end + 4 + length { break }
                // libcurl (under URLSession and the curl tool) may wait for an interim 100 before the body.
                if head.contains("expect: 100-continue"), !continued {
                    continued = true
                    send(connection, "HTTP/1.1 100 Continue\r\n\r\n")
                }
            }
            let count = read(connection, &buffer, buffer.count)
            if count <= 0 { break }
            data += buffer[..<count]
        }
        send(connection, response)
        return String(decoding: data, as: UTF8.self)
    }

    private static func headEnd(_ data: [UInt8]) -> Int? {
        guard data.count >= 4 else { return nil }
        return (0...(data.count - 4)).first {
            data[$0] == 13 && data[$0 + 1] == 10 && data[$0 + 2] == 13 && data[$0 + 3] == 10
        }
    }

    private static func send(_ connection: Int32, _ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { write(connection, $0.baseAddress, $0.count) }
    }
}

@Suite("pdmp-gateway token")
struct CLITokenTests {
    /// The decoded form fields of a request body.
    static func form(_ request: String) -> [String: String] {
        let body = request.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
        var fields: [String: String] = [:]
        for pair in body.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            fields[parts[0]] = parts[1].removingPercentEncoding
        }
        return fields
    }

    @Test("signs a client assertion, posts client_credentials and prints only the access token")
    func success() throws {
        let dir = try TemporaryDirectory()
        let key = try PrivateKey.generateEC(.p384)
        let keyFile = try dir.write("reg-key-1.pem", try key.pkcs8PEM())
        let server = try OneShotHTTPServer(
            status: 200, body: #"{"access_token":"tok-abc.def","token_type":"bearer","expires_in":300,"scope":"x"}"#)
        let url = "http://127.0.0.1:\(server.port)/auth/token"
        let run = runCLI(["token", "--client", "pharmacy-one", "--key", keyFile, "--token-url", url])
        #expect(run.status == 0, "\(run.err)")
        #expect(run.out == "tok-abc.def\n")
        #expect(run.err.isEmpty)

        let request = try #require(server.request())
        #expect(request.hasPrefix("POST /auth/token HTTP/1.1\r\n"))
        #expect(request.lowercased().contains("content-type: application/x-www-form-urlencoded"))
        let fields = Self.form(request)
        #expect(fields["grant_type"] == "client_credentials")
        #expect(fields["scope"] == "system/*.rs")
        #expect(fields["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        let jws = try CompactJWS.parse(try #require(fields["client_assertion"]))
        #expect(jws.algorithmName == "ES384")
        // Without --kid: the RFC 7638 thumbprint, as the demo (deploy/demo/demo_env.py) computes it from the
        // same file with openssl, so that the demo's registrations work without --kid.
        #expect(jws.keyID == JWK.thumbprint(of: try key.publicKey()))
        #expect(jws.keyID == (try Self.demoThumbprint(keyFile)))
        #expect(jws.type == "JWT")
        #expect(try key.publicKey().verify(jws.signature, for: jws.signingInput, scheme: JWSAlgorithm.es384.scheme))
        let claims = try JSONValue.parse(jws.payload)
        #expect(claims["iss"]?.stringValue == "pharmacy-one")
        #expect(claims["sub"]?.stringValue == "pharmacy-one")
        #expect(claims["aud"]?.stringValue == url)
        let lifetime = (claims["exp"]?.intValue ?? 0) - (claims["iat"]?.intValue ?? 0)
        #expect(lifetime > 0 && lifetime <= 300)
        #expect(claims["jti"]?.stringValue?.isEmpty == false)
    }

    /// The demo's own thumbprint of a PEM key file (Python, `openssl pkey -text_pub`).
    static func demoThumbprint(_ keyFile: String) throws -> String {
        let script = "import sys; sys.path.insert(0, sys.argv[1]); import demo_env; from pathlib import Path; "
            + "print(demo_env.jwk_thumbprint(Path(sys.argv[2])))"
        let run = try Subprocess.run(
            "/usr/bin/env", ["python3", "-c", script, GatewayHarness.repositoryRoot + "/deploy/demo", keyFile])
        return run.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("the default kid is the RFC 7638 thumbprint for RSA keys too")
    func rsaThumbprint() throws {
        let dir = try TemporaryDirectory()
        let key = try PrivateKey.generateRSA(bits: 2048)
        let keyFile = try dir.write("any-name.pem", try key.pkcs8PEM())
        let server = try OneShotHTTPServer(status: 200, body: #"{"access_token":"t","token_type":"bearer"}"#)
        let run = runCLI([
            "token", "--client", "c8", "--key", keyFile, "--token-url", "http://127.0.0.1:\(server.port)/auth/token",
        ])
        #expect(run.status == 0, "\(run.err)")
        let request = try #require(server.request())
        let jws = try CompactJWS.parse(try #require(Self.form(request)["client_assertion"]))
        #expect(jws.keyID == (try Self.demoThumbprint(keyFile)))
        #expect(jws.keyID != "any-name")
    }

    @Test("--kid, --alg and --scope are honoured; RSA keys default to RS384")
    func options() throws {
        let dir = try TemporaryDirectory()
        let key = try PrivateKey.generateRSA(bits: 2048)
        let keyFile = try dir.write("rsa.pem", try key.pkcs8PEM())
        let server = try OneShotHTTPServer(status: 200, body: #"{"access_token":"t2","token_type":"bearer"}"#)
        let run = runCLI([
            "token", "--client", "c2", "--key", keyFile, "--token-url", "http://127.0.0.1:\(server.port)/auth/token",
            "--kid", "rsa-2026", "--scope", "system/Patient.rs", "--scope", "system/MedicationDispense.rs", "--json",
        ])
        #expect(run.status == 0, "\(run.err)")
        #expect(run.out == #"{"access_token":"t2","token_type":"bearer"}"# + "\n")
        let fields = Self.form(try #require(server.request()))
        #expect(fields["scope"] == "system/Patient.rs system/MedicationDispense.rs")
        let jws = try CompactJWS.parse(try #require(fields["client_assertion"]))
        #expect(jws.algorithmName == "RS384")
        #expect(jws.keyID == "rsa-2026")
    }

    @Test("with --cacert the request goes through curl, body on stdin, and the token is printed the same way")
    func curlTransport() throws {
        let dir = try TemporaryDirectory()
        let key = try PrivateKey.generateEC(.p256)
        let keyFile = try dir.write("ec256.pem", try key.pkcs8PEM())
        // Plain HTTP: curl loads the CA file only for TLS, so any readable file does here; TLS trust itself is
        // exercised against a live gateway.
        let ca = try dir.write("ca.pem", "unused for http\n")
        let server = try OneShotHTTPServer(status: 200, body: #"{"access_token":"via-curl","token_type":"bearer"}"#)
        let url = "http://127.0.0.1:\(server.port)/auth/token"
        let run = runCLI(["token", "--client", "c6", "--key", keyFile, "--token-url", url, "--cacert", ca])
        #expect(run.status == 0, "\(run.err)")
        #expect(run.out == "via-curl\n")
        let request = try #require(server.request())
        #expect(request.lowercased().contains("user-agent: curl/"))
        let jws = try CompactJWS.parse(try #require(Self.form(request)["client_assertion"]))
        #expect(jws.algorithmName == "ES256")
        #expect(try key.publicKey().verify(jws.signature, for: jws.signingInput, scheme: JWSAlgorithm.es256.scheme))
    }

    @Test("a missing CA file is reported before any request")
    func missingCA() throws {
        let dir = try TemporaryDirectory()
        let keyFile = try dir.write("k.pem", try PrivateKey.generateEC(.p384).pkcs8PEM())
        let run = runCLI([
            "token", "--client", "c7", "--key", keyFile, "--token-url", "https://127.0.0.1:1/auth/token",
            "--cacert", dir.file("missing.pem"),
        ])
        #expect(run.status == 1)
        #expect(run.err.contains("cannot read the CA file"))
    }

    @Test("a refusal prints the RFC 6749 error JSON on stderr, nothing on stdout, exit 1")
    func refused() throws {
        let dir = try TemporaryDirectory()
        let keyFile = try dir.write("k.pem", try PrivateKey.generateEC(.p384).pkcs8PEM())
        let error = #"{"error":"invalid_client","error_description":"The client assertion signature is invalid."}"#
        let server = try OneShotHTTPServer(status: 400, body: error)
        let run = runCLI([
            "token", "--client", "c3", "--key", keyFile, "--token-url", "http://127.0.0.1:\(server.port)/auth/token",
        ])
        #expect(run.status == 1)
        #expect(run.out.isEmpty)
        #expect(run.err.contains("token request refused (HTTP 400: invalid_client)"))
        #expect(run.err.contains(error))
    }

    @Test("an unreachable token endpoint fails with exit 1 and says so", arguments: [false, true])
    func unreachable(withCA: Bool) throws {
        let dir = try TemporaryDirectory()
        let keyFile = try dir.write("k.pem", try PrivateKey.generateEC(.p256).pkcs8PEM())
        let port = try OneShotHTTPServer.unusedPort()
        var arguments = [
            "token", "--client", "c4", "--key", keyFile, "--token-url", "https://127.0.0.1:\(port)/auth/token",
        ]
        if withCA { arguments += ["--cacert", try dir.write("ca.pem", "not used before connecting\n")] }
        let run = runCLI(arguments)
        #expect(run.status == 1)
        #expect(run.out.isEmpty)
        #expect(run.err.contains("cannot reach https://127.0.0.1:\(port)/auth/token"))
    }

    @Test("a key file that is not a private key is reported before any request")
    func badKey() throws {
        let dir = try TemporaryDirectory()
        let pub = try dir.write("pub.pem", try PrivateKey.generateEC(.p384).publicPEM())
        let run = runCLI(["token", "--client", "c5", "--key", pub, "--token-url", "https://127.0.0.1:1/auth/token"])
        #expect(run.status == 1)
        #expect(run.err.contains("is not a PEM private key"))
        let mismatch = try dir.write("ec.pem", try PrivateKey.generateEC(.p384).pkcs8PEM())
        let wrongAlg = runCLI([
            "token", "--client", "c5", "--key", mismatch, "--token-url", "https://127.0.0.1:1/auth/token",
            "--alg", "RS384",
        ])
        #expect(wrongAlg.status == 1)
        #expect(wrongAlg.err.contains("cannot sign the client assertion"))
    }
}
