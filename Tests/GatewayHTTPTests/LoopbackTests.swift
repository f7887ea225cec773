import GatewayTesting
import Foundation
import GatewayCore
import GatewayIO
import Synchronization
import Testing
@testable import GatewayHTTP

/// A loopback HTTP/1.1 server made of `HTTP1ServerConnection`s on a real listener (TCP or TLS).
final class LoopbackServer: Sendable {
    let listener: Listener

    init(mode: HandlerMode, tls: TLSServerContext? = nil) throws {
        let box = CounterBox()
        listener = try Listener(group: TestLoop.group, host: "127.0.0.1", port: 0, tls: tls) { stream in
            let id = box.next()
            let handler = RecordingHandler(mode: mode)
            HTTP1ServerConnection(stream: stream, handler: handler, connectionID: UInt64(id)).start()
        }
        self.box = box
    }

    private let box: CounterBox
    var port: Int { listener.port }
    var connections: Int { box.value }
    func shutdown() { listener.close() }
}

final class CounterBox: Sendable {
    private let count = Atomic<Int>(0)
    func next() -> Int { count.add(1, ordering: .relaxed).newValue }
    var value: Int { count.load(ordering: .relaxed) }
}

/// A self-signed certificate for localhost and 127.0.0.1, made with the openssl CLI at test time.
struct SelfSignedCertificate {
    let directory: String
    var certificate: String { directory + "/cert.pem" }
    var key: String { directory + "/key.pem" }

    init() throws {
        directory = NSTemporaryDirectory() + "gateway-http-tls-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
            directory + "/key.pem", "-out", directory + "/cert.pem", "-days", "1", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }
}

/// Runs curl with `arguments` and returns its standard output.
private func curl(_ arguments: [String], stdin: Data? = nil) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
    process.arguments = ["-s", "--max-time", "10"] + arguments
    let output = Pipe()
    process.standardOutput = output
    let input = Pipe()
    process.standardInput = input
    try process.run()
    if let stdin { input.fileHandleForWriting.write(stdin) }
    try input.fileHandleForWriting.close()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}

@Suite("Loopback HTTP/1.1", .serialized)
struct LoopbackTests {
    @Test("curl: keep-alive across two URLs, a chunked upload and Expect: 100-continue")
    func curlInterop() throws {
        let server = try LoopbackServer(mode: .echo)
        defer { server.shutdown() }
        let base = "http://127.0.0.1:\(server.port)"
        let two = try curl([base + "/a", base + "/b"])
        #expect(two == "ok GET /a 0\nok GET /b 0\n")
        #expect(server.connections == 1)
        let body = Data(repeating: 0x41, count: 3 * 1024 * 1024)
        let upload = ["-X", "POST", "-H", "Transfer-Encoding: chunked", "--data-binary", "@-", base + "/up"]
        let chunked = try curl(upload, stdin: body)
        #expect(chunked == "ok POST /up \(body.count)\n")
        let expect = try curl(["-H", "Expect: 100-continue", "--data-binary", "@-", base + "/e"], stdin: body)
        #expect(expect == "ok POST /e \(body.count)\n")
    }

    @Test("the pool reuses one TLS connection to an upstream made of server connections")
    func tlsUpstream() async throws {
        let certificate = try SelfSignedCertificate()
        defer { certificate.remove() }
        let serverTLS = try TLSServerContext(
            certificateChainFile: certificate.certificate, privateKeyFile: certificate.key)
        let server = try LoopbackServer(mode: .echo, tls: serverTLS)
        defer { server.shutdown() }
        let clientTLS = try TLSClientContext(caFile: certificate.certificate)
        let port = server.port
        let signal = Signal<[UpstreamOutcome]>()
        TestLoop.loop.execute {
            let pool = UpstreamPool(
                eventLoop: TestLoop.loop, host: "127.0.0.1", port: port, tls: clientTLS, serverName: "localhost",
                metrics: MetricsRegistry())
            var outcomes: [UpstreamOutcome] = []
            pool.send(HTTPRequest(method: "GET", target: "/one")) { first in
                outcomes.append(first.outcome)
                pool.send(HTTPRequest(method: "PUT", target: "/two", body: Array("abc".utf8))) { second in
                    outcomes.append(second.outcome)
                    pool.close()
                    signal.fulfill(outcomes)
                }
            }
        }
        let outcomes = try #require(await signal.wait(seconds: 10))
        #expect(outcomes.map(\.body) == ["ok GET /one 0\n", "ok PUT /two 3\n"])
        #expect(server.connections == 1)
    }

    @Test("a TLS upstream with an untrusted certificate is a 502")
    func untrustedUpstream() async throws {
        let certificate = try SelfSignedCertificate()
        let other = try SelfSignedCertificate()
        defer { certificate.remove(); other.remove() }
        let serverTLS = try TLSServerContext(
            certificateChainFile: certificate.certificate, privateKeyFile: certificate.key)
        let server = try LoopbackServer(mode: .echo, tls: serverTLS)
        defer { server.shutdown() }
        let clientTLS = try TLSClientContext(caFile: other.certificate)
        let port = server.port
        let signal = Signal<UpstreamOutcome>()
        TestLoop.loop.execute {
            let pool = UpstreamPool(
                eventLoop: TestLoop.loop, host: "127.0.0.1", port: port, tls: clientTLS, serverName: "localhost",
                metrics: MetricsRegistry())
            pool.send(HTTPRequest(method: "GET", target: "/one")) { signal.fulfill($0.outcome) }
        }
        let outcome = try #require(await signal.wait(seconds: 10))
        #expect(outcome.error?.kind == .connectFailed)
        #expect(outcome.error?.status == 502)
    }
}
