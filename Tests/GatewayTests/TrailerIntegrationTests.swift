// Trailers through the running gateway (issue #3 item 1; docs/configuration.md "Trailers"): HTTP/2
// request trailers and `te: trailers` are accepted and never reach the upstream, whose HTTP/1.1 request
// carries a Content-Length the gateway computed; an upstream's chunked response trailers are dropped, on
// HTTP/1.1 and on HTTP/2 alike, and the (inspected) body arrives whole with a Content-Length.

import Foundation
import Gateway
import GatewayCore
import GatewayIO
import GatewayTesting
import Testing

@Suite("Trailers through the running gateway")
struct TrailerIntegrationTests {
    let gw = FHIRGateways.open
    static let clientLoop = EventLoopGroup(count: 1)

    @Test("h2 request trailers and te: trailers are accepted; the upstream gets a Content-Length and neither")
    func requestTrailers() async throws {
        let id = "trl-" + RandomID.hex128()
        let text = #"{"resourceType":"MedicationDispense","status":"completed","#
            + #""medicationCodeableConcept":{"text":"oxycodone"},"subject":{"reference":"Patient/pt-alice"}}"#
        let body = Array(text.utf8)
        let head = RawH2.headers(stream: 1, [
            (":method", "POST"), (":scheme", "https"), (":authority", "127.0.0.1"),
            (":path", "/fhir/MedicationDispense"),
            ("authorization", "Bearer \(try Tokens.patient(gw, Tokens.aliceWrite))"),
            ("content-type", "application/fhir+json"), ("te", "trailers"), ("x-request-id", id),
        ], endStream: false)
        let trailers = RawH2.headers(stream: 1, [("x-checksum", "sha256-abc"), ("x-trailer-note", "dropped")])
        let bytes = RawH2.preface + RawH2.frame(0x4) + head + RawH2.frame(0x0, stream: 1, body) + trailers
        let client = RawH2Client(loop: Self.clientLoop.loops[0])
        try client.run(port: gw.runtime.port, caFile: gw.pki.caCertificate, chunks: [bytes], gapMs: 0)
        let frames = try await client.frames { frames in
            frames.contains { $0.stream == 1 && RawH2Client.endsStream($0) }
        }
        client.close()
        #expect(!frames.contains { $0.type == 0x3 && $0.stream == 1 }, "the stream was reset")
        #expect(frames.contains { $0.type == 0x1 && $0.stream == 1 })

        let seen = try gw.upstream(for: id)
        try #require(seen.count == 1)
        let request = seen[0]
        #expect(request.method == "POST")
        #expect(request.body == body)
        #expect(request.header("Content-Length") == String(body.count))
        for name in ["Transfer-Encoding", "Trailer", "TE", "X-Checksum", "X-Trailer-Note"] {
            #expect(request.header(name) == nil, "\(name) reached the upstream")
        }
    }

    /// A read whose upstream answer is chunked with a trailer section (the fixture frames it by hand).
    func serveWithTrailers(_ resourceID: String) throws -> String {
        let json = Fixtures.dispense(resourceID, patient: "pt-alice")
        let chunked = String(json.utf8.count, radix: 16) + "\r\n" + json + "\r\n0\r\nX-Checksum: sha256-abc\r\n\r\n"
        try gw.recorder!.respond([
            "method": "GET", "path": .string("/fhir/MedicationDispense/\(resourceID)"), "status": 200,
            "headers": .array([
                ["Content-Type", "application/fhir+json"], ["Transfer-Encoding", "chunked"], ["Trailer", "X-Checksum"],
            ]),
            "body": .string(chunked),
        ])
        return json
    }

    /// The header section and trailers curl wrote with `-D`, and the body.
    func curl(
        _ url: String, http2: Bool, bearer: String? = nil, caFile: String? = nil
    ) throws -> (head: String, body: String) {
        let dump = NSTemporaryDirectory() + "trailer-head-" + RandomID.hex128()
        defer { try? FileManager.default.removeItem(atPath: dump) }
        var arguments = ["-s", http2 ? "--http2" : "--http1.1", "-D", dump, "--max-time", "20"]
        if let caFile { arguments += ["--cacert", caFile] }
        if let bearer { arguments += ["-H", "Authorization: Bearer \(bearer)"] }
        let output = try Subprocess.run("/usr/bin/curl", arguments + [url])
        return ((try? String(contentsOfFile: dump, encoding: .isoLatin1)) ?? "", output.stdoutText)
    }

    @Test("upstream response trailers are dropped on HTTP/1.1 and HTTP/2; the body arrives whole, length-framed",
          arguments: [false, true])
    func responseTrailers(http2: Bool) throws {
        let resourceID = "md-trl-" + RandomID.hex128().prefix(12)
        let json = try serveWithTrailers(String(resourceID))
        // Control: the fixture really sends the trailer, and curl shows trailers in its -D dump.
        let direct = try curl(gw.upstreamBase + "/MedicationDispense/\(resourceID)", http2: false)
        #expect(direct.head.lowercased().contains("x-checksum: sha256-abc"), "\(direct.head)")

        let through = try curl(
            gw.fhirBase + "/MedicationDispense/\(resourceID)", http2: http2, bearer: try Tokens.patient(gw),
            caFile: gw.pki.caCertificate)
        let head = through.head.lowercased()
        #expect(head.hasPrefix(http2 ? "http/2 200" : "http/1.1 200"), "\(through.head)")
        #expect(!head.contains("x-checksum"), "\(through.head)")
        #expect(!head.contains("trailer:"), "\(through.head)")
        #expect(!head.contains("transfer-encoding"), "\(through.head)")
        #expect(head.contains("content-length: \(through.body.utf8.count)"), "\(through.head)")
        #expect(try JSONValue.parse(Array(through.body.utf8)) == JSONValue.parse(Array(json.utf8)))
    }
}
