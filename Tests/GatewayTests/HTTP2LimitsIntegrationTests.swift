// `limits.http2` from the outside (issue #3 item 2): a gateway started with small configured limits
// advertises them in its SETTINGS, refuses the streams over its stream limit before the upstream sees them,
// ends a rapid-reset connection at its configured reset rate, ends PING, SETTINGS and CONTINUATION floods
// at its configured limits (which the default gateway accepts), answers 431 over its header list size, and
// a reload applies new limits to new connections or, with a bad value, is refused and keeps the old ones.

import Foundation
import Gateway
import GatewayCore
import GatewayIO
import GatewayTesting
import Testing

/// A gateway whose HTTP/2 limits are far below the defaults, so that each one is seen to be the configured
/// one (the defaults are 100 streams, 50 resets/s and 32 KiB).
enum LimitedH2Gateway {
    static let streams = 3
    static let resets = 5
    static let headerList = 4096
    /// PINGs and SETTINGS a second (default 10 each) and CONTINUATION frames per header block (default 8).
    static let floods = 3

    static let limits = """
        limits:
          http2:
            max_concurrent_streams: \(streams)
            max_resets_per_second: \(resets)
            max_header_list_size: \(headerList)
            max_pings_per_second: \(floods)
            max_settings_per_second: \(floods)
            max_continuation_frames: \(floods)

        """

    static let harness: GatewayHarness = {
        do {
            return try GatewayHarness(
                clients: [.init(id: "app-1", scopes: ["system/MedicationDispense.rs"])], extraConfig: limits)
        } catch {
            fatalError("gateway harness did not start: \(error)")
        }
    }()
}

/// What a raw HTTP/2 client saw, waited for without fixed sleeps.
extension RawH2Client {
    typealias Frames = [RawH2.Frame]

    /// Waits (loosely bounded) until `done` holds for the frames received, or the connection closed.
    func frames(within seconds: Double = 30, until done: (Frames) -> Bool) async throws -> Frames {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            let seen = snapshot
            let frames = RawH2.parse(seen.bytes)
            if done(frames) || seen.closed || Date() > deadline { return frames }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// A response's last frame (END_STREAM on HEADERS or DATA) or a RST_STREAM.
    static func endsStream(_ frame: RawH2.Frame) -> Bool {
        (frame.type == 0x0 || frame.type == 0x1) && frame.flags & 0x1 != 0 || frame.type == 0x3
    }

    /// The server's first SETTINGS frame as identifier → value (RFC 9113 §6.5.1).
    static func settings(_ frames: Frames) -> [UInt16: UInt32] {
        guard let frame = frames.first(where: { $0.type == 0x4 && $0.flags & 0x1 == 0 }) else { return [:] }
        var out: [UInt16: UInt32] = [:]
        var i = 0
        while i + 6 <= frame.payload.count {
            let id = UInt16(frame.payload[i]) << 8 | UInt16(frame.payload[i + 1])
            out[id] = frame.payload[i + 2..<i + 6].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            i += 6
        }
        return out
    }
}

@Suite("HTTP/2 limits from gateway.yaml, through the running gateway")
struct HTTP2LimitsIntegrationTests {
    let gw = LimitedH2Gateway.harness
    static let clientLoop = EventLoopGroup(count: 1)

    func request(stream: UInt32, id: String, token: String) -> [UInt8] {
        RawH2.headers(stream: stream, [
            (":method", "GET"), (":scheme", "https"), (":authority", "127.0.0.1"),
            (":path", "/fhir/MedicationDispense?patient=pt-alice"), ("authorization", "Bearer \(token)"),
            ("x-request-id", id),
        ])
    }

    @Test("SETTINGS carry the configured limits; streams over max_concurrent_streams are refused, never forwarded")
    func streamLimit() async throws {
        let token = try gw.token(client: "app-1", scopes: ["system/MedicationDispense.rs"])
        let run = "lim-" + RandomID.hex128()
        // The upstream holds each answer, so the first streams are still open when the others arrive.
        try gw.recorder!.respond([
            "method": "GET", "prefix": "/fhir/MedicationDispense", "status": 200, "delayMs": 1500,
            "headers": ["Content-Type": "application/fhir+json"],
            "body": ["resourceType": "Bundle", "type": "searchset", "entry": []],
        ])
        let total = 2 * LimitedH2Gateway.streams
        // No SETTINGS ACK is sent, so nghttp2 refuses with REFUSED_STREAM (RFC 9113 §5.1.2) rather than
        // treating the excess as a connection error.
        var bytes = RawH2.preface + RawH2.frame(0x4)
        for n in 0..<total { bytes += request(stream: UInt32(2 * n + 1), id: "\(run)-\(n)", token: token) }
        let client = RawH2Client(loop: Self.clientLoop.loops[0])
        try client.run(port: gw.runtime.port, caFile: gw.pki.caCertificate, chunks: [bytes], gapMs: 0)
        let frames = try await client.frames { frames in
            // Every stream ended: by a response's END_STREAM or by RST_STREAM.
            Set(frames.filter(RawH2Client.endsStream).map(\.stream)).count == total
        }
        client.close()

        let settings = RawH2Client.settings(frames)
        #expect(settings[0x3] == UInt32(LimitedH2Gateway.streams), "SETTINGS_MAX_CONCURRENT_STREAMS \(settings)")
        #expect(settings[0x6] == UInt32(LimitedH2Gateway.headerList), "SETTINGS_MAX_HEADER_LIST_SIZE \(settings)")
        let refused = frames.filter { $0.type == 0x3 && $0.code == 0x7 }.map(\.stream)
        let answered = Set(frames.filter { $0.type == 0x1 }.map(\.stream))
        #expect(refused.count == total - LimitedH2Gateway.streams, "refused \(refused)")
        #expect(answered.count == LimitedH2Gateway.streams, "answered \(answered)")
        #expect(Set(refused).isDisjoint(with: answered))
        let upstream = try gw.upstreamRequests().filter { $0.header("X-Request-ID")?.hasPrefix(run) == true }
        #expect(upstream.count == LimitedH2Gateway.streams, "upstream saw \(upstream.count)")
        try gw.recorder!.reset()
    }

    @Test("one reset over max_resets_per_second ends the connection with GOAWAY ENHANCE_YOUR_CALM")
    func resetLimit() async throws {
        let token = try gw.token(client: "app-1", scopes: ["system/MedicationDispense.rs"])
        let run = "rst-" + RandomID.hex128()
        // 20 HEADERS + RST_STREAM(CANCEL) pairs in one write: far under the default of 50 a second, four
        // times the configured 5.
        var bytes = RawH2.preface + RawH2.frame(0x4)
        for n in 0..<20 {
            let stream = UInt32(2 * n + 1)
            bytes += request(stream: stream, id: "\(run)-\(n)", token: token) + RawH2.rst(stream: stream)
        }
        let client = RawH2Client(loop: Self.clientLoop.loops[0])
        try client.run(port: gw.runtime.port, caFile: gw.pki.caCertificate, chunks: [bytes], gapMs: 0)
        let frames = try await client.frames { $0.contains { $0.type == 0x7 } }
        _ = try await client.frames { _ in false }  // returns once the gateway closed the connection
        let closed = client.snapshot.closed
        client.close()
        let goaway = try #require(frames.last { $0.type == 0x7 })
        #expect(goaway.code == 0xb)
        // GOAWAY's last-stream-id: the gateway stopped at the 6th reset's stream (RFC 9113 §6.8).
        let last = goaway.payload.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) } & 0x7fff_ffff
        #expect(last <= UInt32(2 * (LimitedH2Gateway.resets + 1) - 1), "last stream \(last)")
        #expect(closed)
        let upstream = try gw.upstreamRequests().filter { $0.header("X-Request-ID")?.hasPrefix(run) == true }
        #expect(upstream.count <= LimitedH2Gateway.resets, "upstream saw \(upstream.count)")
    }

    @Test("resets in separate writes (requests already forwarded) cost at most max_resets_per_second + 1 upstream")
    func spreadResets() async throws {
        let token = try gw.token(client: "app-1", scopes: ["system/MedicationDispense.rs"])
        let run = "rsp-" + RandomID.hex128()
        // Each HEADERS and each RST_STREAM in its own write, 5 ms apart: about 120 ms for 12 pairs, well
        // inside one second even on a slow machine, so the sixth reset is over the configured 5.
        var chunks: [[UInt8]] = [RawH2.preface + RawH2.frame(0x4)]
        for n in 0..<12 {
            let stream = UInt32(2 * n + 1)
            chunks += [request(stream: stream, id: "\(run)-\(n)", token: token), RawH2.rst(stream: stream)]
        }
        let client = RawH2Client(loop: Self.clientLoop.loops[0])
        try client.run(port: gw.runtime.port, caFile: gw.pki.caCertificate, chunks: chunks, gapMs: 5)
        let frames = try await client.frames { $0.contains { $0.type == 0x7 } }
        _ = try await client.frames { _ in false }  // returns once the gateway closed the connection
        client.close()
        #expect(frames.last { $0.type == 0x7 }?.code == 0xb)
        let upstream = try gw.upstreamRequests().filter { $0.header("X-Request-ID")?.hasPrefix(run) == true }
        #expect(upstream.count <= LimitedH2Gateway.resets + 1, "upstream saw \(upstream.count)")
    }

    @Test("the same resets under the default limit (50/s) leave the connection open (control)")
    func resetControl() async throws {
        let shared = SharedGateway.harness
        let token = try shared.token(client: "app-1", scopes: ["system/MedicationDispense.rs"])
        var bytes = RawH2.preface + RawH2.frame(0x4)
        for n in 0..<20 {
            let stream = UInt32(2 * n + 1)
            bytes += request(stream: stream, id: "ctl-\(n)", token: token) + RawH2.rst(stream: stream)
        }
        // A PING after the pairs: its ACK proves the gateway processed them all without a GOAWAY.
        bytes += RawH2.frame(0x6, [1, 2, 3, 4, 5, 6, 7, 8])
        let client = RawH2Client(loop: Self.clientLoop.loops[0])
        try client.run(port: shared.runtime.port, caFile: shared.pki.caCertificate, chunks: [bytes], gapMs: 0)
        let frames = try await client.frames { $0.contains { $0.type == 0x6 && $0.flags & 0x1 != 0 } }
        client.close()
        #expect(frames.contains { $0.type == 0x6 && $0.flags & 0x1 != 0 })
        #expect(!frames.contains { $0.type == 0x7 })
    }

    /// Six PINGs, six SETTINGS, or a header block in one HEADERS and six CONTINUATION frames: over the
    /// configured 3, under the defaults (10, 10, 8).
    static func flood(_ kind: String, token: String) -> [UInt8] {
        switch kind {
        case "ping": return (0..<6).flatMap { RawH2.frame(0x6, [0, 0, 0, 0, 0, 0, 0, UInt8($0)]) }
        case "settings": return (0..<6).flatMap { _ in RawH2.frame(0x4) }
        default:
            // Field literals taken from whole HEADERS frames (their 9-byte frame headers dropped).
            func block(_ fields: [(String, String)]) -> [UInt8] { Array(RawH2.headers(stream: 1, fields).dropFirst(9)) }
            var bytes = RawH2.frame(0x1, flags: 0x1, stream: 1, block([
                (":method", "GET"), (":scheme", "https"), (":authority", "127.0.0.1"),
                (":path", "/fhir/MedicationDispense?patient=pt-alice"), ("authorization", "Bearer \(token)"),
            ]))
            for n in 0..<6 {
                bytes += RawH2.frame(0x9, flags: n == 5 ? 0x4 : 0, stream: 1, block([("x-pad-\(n)", "1")]))
            }
            return bytes
        }
    }

    @Test("PING, SETTINGS and CONTINUATION floods over the configured limits end in GOAWAY; under the defaults not",
          arguments: ["ping", "settings", "continuation"])
    func floods(kind: String) async throws {
        func send(to harness: GatewayHarness) async throws -> RawH2Client.Frames {
            let token = try harness.token(client: "app-1", scopes: ["system/MedicationDispense.rs"])
            // A final PING: its ACK shows that everything before it was processed.
            let bytes = RawH2.preface + RawH2.frame(0x4) + Self.flood(kind, token: token)
                + RawH2.frame(0x6, [9, 9, 9, 9, 9, 9, 9, 9])
            let client = RawH2Client(loop: Self.clientLoop.loops[0])
            try client.run(port: harness.runtime.port, caFile: harness.pki.caCertificate, chunks: [bytes], gapMs: 0)
            let frames = try await client.frames { frames in
                frames.contains { $0.type == 0x7 || $0.type == 0x6 && $0.flags & 0x1 != 0 && $0.payload.first == 9 }
            }
            client.close()
            return frames
        }
        let limited = try await send(to: gw)
        #expect(limited.last { $0.type == 0x7 }?.code == 0xb, "\(kind): no GOAWAY ENHANCE_YOUR_CALM")
        let defaults = try await send(to: SharedGateway.harness)
        #expect(!defaults.contains { $0.type == 0x7 }, "\(kind): the default gateway sent GOAWAY")
        #expect(defaults.contains { $0.type == 0x6 && $0.flags & 0x1 != 0 && $0.payload.first == 9 })
    }

    @Test("a header list over max_header_list_size is answered 431 and not forwarded; the default gateway takes it")
    func headerListLimit() throws {
        let big = String(repeating: "a", count: LimitedH2Gateway.headerList + 512)
        func status(_ harness: GatewayHarness, id: String) throws -> String {
            let token = try harness.token(client: "app-1", scopes: ["system/MedicationDispense.rs"])
            return try Subprocess.run("/usr/bin/curl", [
                "-s", "--http2", "--cacert", harness.pki.caCertificate, "-o", "/dev/null",
                "-w", "%{http_version} %{http_code}", "-H", "Authorization: Bearer \(token)",
                "-H", "X-Request-ID: \(id)", "-H", "X-Padding: \(big)", "--max-time", "20",
                harness.fhirBase + "/MedicationDispense?patient=pt-alice",
            ]).stdoutText
        }
        let id = "hl-" + RandomID.hex128()
        #expect(try status(gw, id: id) == "2 431")
        #expect(try gw.upstream(for: id).isEmpty)
        #expect(try status(SharedGateway.harness, id: "hl-" + RandomID.hex128()) == "2 200")
    }

    @Test("a bad limits.http2 value stops the gateway from starting, naming the key")
    func badValueRefusesStart() {
        let error = #expect(throws: (any Error).self) {
            _ = try GatewayHarness(extraConfig: "limits:\n  http2:\n    max_concurrent_streams: 0\n")
        }
        #expect("\(error.map { "\($0)" } ?? "")".contains("limits.http2.max_concurrent_streams: must be between 1"))
    }

    @Test("a reload applies new limits to new connections; a reload with a bad value is refused and changes nothing")
    func reload() async throws {
        let harness = try GatewayHarness(extraConfig: "limits:\n  http2:\n    max_concurrent_streams: 5\n")
        defer { harness.stop() }
        func advertised() async throws -> UInt32? {
            let client = RawH2Client(loop: Self.clientLoop.loops[0])
            try client.run(
                port: harness.runtime.port, caFile: harness.pki.caCertificate,
                chunks: [RawH2.preface + RawH2.frame(0x4)], gapMs: 0)
            let frames = try await client.frames { !RawH2Client.settings($0).isEmpty }
            client.close()
            return RawH2Client.settings(frames)[0x3]
        }
        #expect(try await advertised() == 5)
        let path = harness.directory + "/gateway.yaml"
        let original = try String(contentsOfFile: path, encoding: .utf8)
        try original.replacingOccurrences(of: "max_concurrent_streams: 5", with: "max_concurrent_streams: 7")
            .write(toFile: path, atomically: true, encoding: .utf8)
        #expect(harness.runtime.reload() == [])
        #expect(try await advertised() == 7)
        try original.replacingOccurrences(of: "max_concurrent_streams: 5", with: "max_concurrent_streams: 100000")
            .write(toFile: path, atomically: true, encoding: .utf8)
        let problems = harness.runtime.reload()
        #expect(problems.contains { $0.contains("limits.http2.max_concurrent_streams: must be between 1 and 1000") },
                "\(problems)")
        #expect(try await advertised() == 7)
    }
}
