// HTTP/2 through the running gateway (issue #3 items 1 and 2): ALPN picks h2 for curl and h2load, a
// bounded h2load run finishes without errors, and the rapid-reset attack (DOS-02) and malformed h2
// requests (SMG-06) sent by a raw frame client cost the upstream at most a bounded number of requests.

import Foundation
import Gateway
import GatewayCore
import GatewayCrypto
import GatewayHTTP
import GatewayIO
import GatewayTesting
import Synchronization
import SMART
import Testing

/// Minimal hand-written HTTP/2 frames (RFC 9113 §4.1; HPACK literals without indexing, RFC 7541 §6.2.2).
enum RawH2 {
    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    static func frame(_ type: UInt8, flags: UInt8 = 0, stream: UInt32 = 0, _ payload: [UInt8] = []) -> [UInt8] {
        let n = payload.count
        return [UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff), type, flags] + be32(stream) + payload
    }

    static func be32(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)]
    }

    static func length(_ n: Int) -> [UInt8] {
        if n < 127 { return [UInt8(n)] }
        var out: [UInt8] = [127]
        var rest = n - 127
        while rest >= 128 {
            out.append(UInt8(rest % 128 + 128))
            rest /= 128
        }
        return out + [UInt8(rest)]
    }

    /// HEADERS with END_HEADERS, and END_STREAM unless `endStream` is false.
    static func headers(stream: UInt32, _ fields: [(String, String)], endStream: Bool = true) -> [UInt8] {
        var block: [UInt8] = []
        for (name, value) in fields {
            block += [0x00] + length(name.utf8.count) + Array(name.utf8) + length(value.utf8.count) + Array(value.utf8)
        }
        return frame(0x1, flags: endStream ? 0x5 : 0x4, stream: stream, block)
    }

    static func rst(stream: UInt32) -> [UInt8] { frame(0x3, stream: stream, be32(0x8)) }

    typealias Frame = (type: UInt8, stream: UInt32, code: UInt32?, flags: UInt8, payload: [UInt8])

    /// (type, stream, error code, flags, payload) of each complete frame.
    static func parse(_ bytes: [UInt8]) -> [Frame] {
        var out: [Frame] = []
        var i = 0
        while i + 9 <= bytes.count {
            let n = Int(bytes[i]) << 16 | Int(bytes[i + 1]) << 8 | Int(bytes[i + 2])
            guard i + 9 + n <= bytes.count else { break }
            let word = { (at: Int) in bytes[at..<at + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) } }
            let type = bytes[i + 3]
            let code: UInt32? = type == 0x3 && n >= 4 ? word(i + 9) : type == 0x7 && n >= 8 ? word(i + 13) : nil
            out.append((type, word(i + 5) & 0x7fff_ffff, code, bytes[i + 4], Array(bytes[i + 9..<i + 9 + n])))
            i += 9 + n
        }
        return out
    }
}

/// A TLS client (ALPN h2) that writes prepared chunks on a schedule and records every byte received.
final class RawH2Client: ByteStreamDelegate, @unchecked Sendable {
    // @unchecked Sendable: every field is touched only on `loop` (set-up and callbacks run there); the
    // test thread reads the results through `Mutex`-protected `snapshot`.
    let loop: EventLoop
    private var stream: (any ByteStream)?
    private var received: [UInt8] = []
    private let result = Mutex<(bytes: [UInt8], closed: Bool, alpn: String?)>(([], false, nil))

    init(loop: EventLoop) { self.loop = loop }

    var snapshot: (bytes: [UInt8], closed: Bool, alpn: String?) { result.withLock { $0 } }

    /// Connects and writes `chunks[i]` at `i * gapMs`.
    func run(port: Int, caFile: String, chunks: [[UInt8]], gapMs: UInt64) throws {
        let tls = try TLSClientContext(caFile: caFile, alpn: ["h2"])
        loop.execute { [self] in
            TCPConnector.connect(
                on: loop, host: "127.0.0.1", port: port, tls: tls, serverName: "localhost"
            ) { [self] outcome in
                guard case .success(let stream) = outcome else {
                    result.withLock { $0.closed = true }
                    return
                }
                self.stream = stream
                result.withLock { $0.alpn = stream.tlsInfo?.alpn }
                stream.delegate = self
                for (index, chunk) in chunks.enumerated() {
                    let delay = UInt64(index) * gapMs
                    _ = loop.schedule(afterMilliseconds: delay) { [weak stream] in stream?.write(chunk) }
                }
            }
        }
    }

    func close() { loop.execute { [self] in stream?.close() } }

    func streamDidRead(_ stream: any ByteStream, bytes: UnsafeRawBufferPointer) {
        result.withLock { $0.bytes.append(contentsOf: bytes) }
    }

    func streamDidClose(_ stream: any ByteStream, error: (any Error)?) {
        result.withLock { $0.closed = true }
        self.stream = nil
    }

    func streamDidDrain(_ stream: any ByteStream) {}
}

@Suite("HTTP/2 through the running gateway")
struct HTTP2IntegrationTests {
    let gw = SharedGateway.harness
    static let clientLoop = EventLoopGroup(count: 1)

    func appToken() throws -> String {
        try gw.token(client: "app-1", scopes: ["system/MedicationDispense.rs", "system/Patient.rs"])
    }

    @Test("curl --http2 negotiates h2 through ALPN and gets 200 with the upstream's answer")
    func curlHTTP2() throws {
        let id = "h2-" + RandomID.hex128()
        let output = try Subprocess.run("/usr/bin/curl", [
            "-s", "--http2", "--cacert", gw.pki.caCertificate, "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
            "-H", "Authorization: Bearer \(try appToken())", "-H", "X-Request-ID: \(id)", "--max-time", "20",
            gw.fhirBase + "/MedicationDispense?patient=pt-alice",
        ])
        #expect(output.stdoutText == "2 200")
        let seen = try gw.upstream(for: id)
        #expect(seen.count == 1)
        #expect(seen.first?.header("X-Forwarded-Host") == "127.0.0.1:\(gw.runtime.port)")
    }

    @Test("curl --http1.1 still gets HTTP/1.1 from the same listener")
    func curlHTTP11() throws {
        let output = try Subprocess.run("/usr/bin/curl", [
            "-s", "--http1.1", "--cacert", gw.pki.caCertificate, "-o", "/dev/null",
            "-w", "%{http_version} %{http_code}",
            "-H", "Authorization: Bearer \(try appToken())", "--max-time", "20",
            gw.fhirBase + "/MedicationDispense?patient=pt-alice",
        ])
        #expect(output.stdoutText == "1.1 200")
    }

    @Test("a token request over h2 carries its form body through the pipeline (POST with DATA frames)")
    func tokenOverHTTP2() throws {
        let body = ClientAssertion.tokenRequestBody(
            assertion: try gw.assertion(for: "app-1"), scopes: ["system/MedicationDispense.rs"])
        let output = try Subprocess.run("/usr/bin/curl", [
            "-s", "--http2", "--cacert", gw.pki.caCertificate, "-w", "\n%{http_version} %{http_code}",
            "-H", "Content-Type: application/x-www-form-urlencoded", "--data-binary", "@-", "--max-time", "20",
            gw.tokenURL,
        ], stdin: Array(body.utf8))
        let lines = output.stdoutText.split(separator: "\n")
        #expect(lines.last == "2 200", "\(output.stdoutText)")
        let json = try JSONValue.parse(Array((lines.first ?? "").utf8))
        #expect(json["access_token"]?.stringValue?.isEmpty == false)
    }

    @Test("a short bounded h2load run over h2 completes with no errors")
    func h2load() throws {
        let h2load = try #require(Subprocess.which("h2load"), "h2load (nghttp2-client) is not installed")
        let output = try Subprocess.run("/usr/bin/timeout", [
            "60", h2load, "-n", "200", "-c", "4", "-m", "10", "-H", "authorization: Bearer \(try appToken())",
            gw.fhirBase + "/MedicationDispense?patient=pt-alice",
        ])
        let text = output.stdoutText
        #expect(text.contains("Application protocol: h2"), "\(text)")
        let summary = "requests: 200 total, 200 started, 200 done, 200 succeeded, 0 failed, 0 errored, 0 timeout"
        #expect(text.contains(summary), "\(text)")
        #expect(text.contains("status codes: 200 2xx"), "\(text)")
    }

    @Test("rapid reset (DOS-02): GOAWAY ENHANCE_YOUR_CALM and at most max-concurrent-streams upstream requests")
    func rapidReset() async throws {
        let token = try appToken()
        let run = "rr-" + RandomID.hex128()
        var chunks: [[UInt8]] = [RawH2.preface + RawH2.frame(0x4)]
        var stream: UInt32 = 1
        // 10,000 HEADERS + RST_STREAM(CANCEL) pairs in 100 writes over about two seconds.
        for batch in 0..<100 {
            var bytes: [UInt8] = []
            for i in 0..<100 {
                bytes += RawH2.headers(stream: stream, [
                    (":method", "GET"), (":scheme", "https"), (":authority", "127.0.0.1"),
                    (":path", "/fhir/MedicationDispense?patient=pt-alice"), ("authorization", "Bearer \(token)"),
                    ("x-request-id", "\(run)-\(batch)-\(i)"),
                ])
                bytes += RawH2.rst(stream: stream)
                stream += 2
            }
            chunks.append(bytes)
        }
        let client = RawH2Client(loop: Self.clientLoop.loops[0])
        try client.run(port: gw.runtime.port, caFile: gw.pki.caCertificate, chunks: chunks, gapMs: 20)
        try await Task.sleep(for: .seconds(4))
        let seen = client.snapshot
        client.close()
        #expect(seen.alpn == "h2")
        let goaway = RawH2.parse(seen.bytes).last { $0.type == 0x7 }
        #expect(goaway?.code == 0xb)
        #expect(seen.closed)
        // Let cancelled exchanges that did reach the upstream land in the recorder.
        try await Task.sleep(for: .seconds(1))
        let upstream = try gw.upstreamRequests().filter { $0.header("X-Request-ID")?.hasPrefix(run) == true }
        #expect(upstream.count <= HTTP2Limits().maxConcurrentStreams, "upstream saw \(upstream.count) requests")
        // Other clients are unaffected.
        let (response, _) = try gw.get("/fhir/MedicationDispense?patient=pt-alice", bearer: token)
        #expect(response.status == 200)
    }

    @Test("malformed h2 requests (SMG-06) are reset with PROTOCOL_ERROR and never reach the upstream",
          arguments: [("transfer-encoding", "chunked"), ("connection", "keep-alive"), ("keep-alive", "timeout=5"),
                      ("proxy-connection", "keep-alive"), ("upgrade", "h2c"), ("te", "gzip")])
    func malformed(name: String, value: String) async throws {
        let id = "smg-" + RandomID.hex128()
        let request = RawH2.headers(stream: 1, [
            (":method", "GET"), (":scheme", "https"), (":authority", "127.0.0.1"),
            (":path", "/fhir/MedicationDispense?patient=pt-alice"), ("authorization", "Bearer \(try appToken())"),
            ("x-request-id", id), (name, value),
        ])
        let client = RawH2Client(loop: Self.clientLoop.loops[0])
        let bytes = RawH2.preface + RawH2.frame(0x4) + request
        try client.run(port: gw.runtime.port, caFile: gw.pki.caCertificate, chunks: [bytes], gapMs: 0)
        try await Task.sleep(for: .milliseconds(700))
        let seen = client.snapshot
        client.close()
        let reset = RawH2.parse(seen.bytes).first { $0.type == 0x3 && $0.stream == 1 }
        #expect(reset?.code == 0x1, "\(name)")
        #expect(try gw.upstream(for: id).isEmpty)
    }

    @Test("HDR-05 (e): a 64 KiB header over h2, in HEADERS and CONTINUATION frames, is answered 431 and not forwarded")
    func oversizedHeaderBlock() async throws {
        let id = "hdr05-" + RandomID.hex128()
        var block: [UInt8] = []
        for (name, value) in [
            (":method", "GET"), (":scheme", "https"), (":authority", "127.0.0.1"),
            (":path", "/fhir/MedicationDispense?patient=pt-alice"), ("authorization", "Bearer \(try appToken())"),
            ("x-request-id", id), ("cookie", "c=" + String(repeating: "a", count: 64 * 1024 - 2)),
        ] {
            block += [0x00] + RawH2.length(name.utf8.count) + Array(name.utf8)
                + RawH2.length(value.utf8.count) + Array(value.utf8)
        }
        // RFC 9113 §6.10: the block split at the default 16 KiB frame size; END_STREAM on HEADERS,
        // END_HEADERS on the last CONTINUATION.
        let pieces = stride(from: 0, to: block.count, by: 16_384).map { Array(block[$0..<min($0 + 16_384, block.count)]) }
        var bytes = RawH2.preface + RawH2.frame(0x4) + RawH2.frame(0x1, flags: 0x1, stream: 1, pieces[0])
        for (index, piece) in pieces.enumerated().dropFirst() {
            bytes += RawH2.frame(0x9, flags: index == pieces.count - 1 ? 0x4 : 0, stream: 1, piece)
        }
        let client = RawH2Client(loop: Self.clientLoop.loops[0])
        try client.run(port: gw.runtime.port, caFile: gw.pki.caCertificate, chunks: [bytes], gapMs: 0)
        var frames: [RawH2.Frame] = []
        for _ in 0..<50 {  // until the answer's HEADERS, a reset or a GOAWAY arrives (bounded)
            try await Task.sleep(for: .milliseconds(100))
            frames = RawH2.parse(client.snapshot.bytes)
            if frames.contains(where: { ($0.type == 0x1 || $0.type == 0x3) && $0.stream == 1 || $0.type == 0x7 }) { break }
        }
        let seen = client.snapshot
        client.close()
        #expect(frames.contains { $0.type == 0x1 && $0.stream == 1 }, "frames: \(frames.map { ($0.type, $0.stream, $0.code) })")
        // A RST_STREAM(NO_ERROR) after the complete answer is allowed (RFC 9113 §8.1); an error code or GOAWAY is not.
        #expect(!frames.contains { ($0.type == 0x3 && $0.code != 0) || $0.type == 0x7 }, "frames: \(frames.map { ($0.type, $0.stream, $0.code) })")
        // The status is a literal with the indexed `:status` name; "431" is as short raw as Huffman-coded, so
        // HPACK (RFC 7541 §5.2) sends it raw.
        let status = Array("431".utf8)
        #expect(seen.bytes.indices.dropLast(2).contains { Array(seen.bytes[$0..<$0 + 3]) == status })
        #expect(try gw.upstream(for: id).isEmpty)
    }
}
