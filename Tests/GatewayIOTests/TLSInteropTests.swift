import GatewayTesting
import Foundation
import Testing
@testable import GatewayIO

/// Answers the first request on a connection with a fixed HTTP/1.0 response, then closes.
private final class FixedResponder: ByteStreamDelegate {
    private var request: [UInt8] = []
    private var answered = false
    static let body = "hello from GatewayIO\n"

    func streamDidRead(_ stream: any ByteStream, bytes: UnsafeRawBufferPointer) {
        request.append(contentsOf: bytes)
        guard !answered, request.count >= 4, request.suffix(4).elementsEqual(Array("\r\n\r\n".utf8)) else { return }
        answered = true
        let alpn = stream.tlsInfo?.alpn ?? "none"
        let response = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: \(Self.body.utf8.count)\r\n"
            + "X-ALPN: \(alpn)\r\n\r\n" + Self.body
        stream.write(Array(response.utf8))
        stream.close()
    }

    func streamDidClose(_ stream: any ByteStream, error: (any Error)?) {}
    func streamDidDrain(_ stream: any ByteStream) {}
}

/// The result of running a command-line client.
private struct CommandResult: Sendable {
    var status: Int32
    var output: String
}

/// Runs `executable` with `input` on stdin without blocking a test thread; kills it after `seconds`.
private func runCommand(
    _ executable: String, _ arguments: [String], input: String = "", seconds: Double = 20
) async throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let stdin = Pipe()
    let output = Pipe()
    process.standardInput = stdin
    process.standardOutput = output
    process.standardError = output
    let finished = TestSignal<Int32>()
    process.terminationHandler = { finished.fulfill($0.terminationStatus) }

    // Read concurrently so a chatty client never blocks on a full pipe.
    let collected = TestSignal<Data>()
    let reader = output.fileHandleForReading
    Thread.detachNewThread { collected.fulfill(reader.readDataToEndOfFile()) }

    try process.run()
    stdin.fileHandleForWriting.write(Data(input.utf8))
    try stdin.fileHandleForWriting.close()
    guard let status = await finished.wait(seconds: seconds) else {
        process.terminate()
        return CommandResult(status: -1, output: "timed out")
    }
    let data = await collected.wait(seconds: 5) ?? Data()
    return CommandResult(status: status, output: String(decoding: data, as: UTF8.self))
}

@Suite("TLS against standard clients") struct TLSInteropTests {
    @Test("curl --cacert completes a verified handshake and reads the response")
    func curl() async throws {
        let pki = try TestPKI.make()
        defer { pki.remove() }
        let group = EventLoopGroup(count: 2)
        defer { group.shutdown() }
        let context = try TLSServerContext(
            certificateChainFile: pki.serverCertificate, privateKeyFile: pki.serverKey, alpn: ["http/1.1"])
        let listener = try Listener(group: group, host: "127.0.0.1", port: 0, tls: context) { stream in
            stream.delegate = FixedResponder()
        }
        let port = listener.port
        let result = try await runCommand("/usr/bin/curl", [
            "--silent", "--show-error", "--include", "--http1.1", "--max-time", "10",
            "--cacert", pki.caCertificate, "--resolve", "localhost:\(port):127.0.0.1",
            "https://localhost:\(port)/",
        ])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("HTTP/1.0 200 OK"))
        #expect(result.output.contains("X-ALPN: http/1.1"))
        #expect(result.output.hasSuffix(FixedResponder.body))
    }

    @Test("openssl s_client verifies the chain and host, negotiates ALPN and reads the response",
          arguments: ["-tls1_2", "-tls1_3"])
    func sClient(versionFlag: String) async throws {
        let pki = try TestPKI.make()
        defer { pki.remove() }
        let group = EventLoopGroup(count: 1)
        defer { group.shutdown() }
        let context = try TLSServerContext(
            certificateChainFile: pki.serverCertificate, privateKeyFile: pki.serverKey, alpn: ["h2", "http/1.1"])
        let listener = try Listener(group: group, host: "127.0.0.1", port: 0, tls: context) { stream in
            stream.delegate = FixedResponder()
        }
        let result = try await runCommand("/usr/bin/openssl", [
            "s_client", "-connect", "127.0.0.1:\(listener.port)", "-servername", "localhost",
            "-verify_hostname", "localhost", "-CAfile", pki.caCertificate, "-verify_return_error",
            "-alpn", "http/1.1", versionFlag, "-ign_eof",
        ], input: "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("Verify return code: 0 (ok)"))
        #expect(result.output.contains("ALPN protocol: http/1.1"))
        #expect(result.output.contains(versionFlag == "-tls1_2" ? "Protocol  : TLSv1.2" : "TLSv1.3"))
        #expect(result.output.contains("X-ALPN: http/1.1"))
        #expect(result.output.contains(FixedResponder.body))
    }
}
