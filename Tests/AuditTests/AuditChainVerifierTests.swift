import Foundation
import GatewayCore
import Testing

@testable import Audit

@Suite("Audit chain verifier")
struct AuditChainVerifierTests {
    /// Writes `count` records and returns the single chain file's lines.
    private func writeChain(_ dir: TempDirectory, count: Int = 12) -> (file: String, lines: [String]) {
        let sink = AuditFileSink(configuration: sinkConfiguration(dir.path), metrics: MetricsRegistry())
        for n in 1...count { _ = sink.appendAndWait(sampleEvent(n)) }
        sink.stop()
        let file = dir.chainFiles()[0]
        return (file, dir.lines(file))
    }

    private func rewrite(_ file: String, _ lines: [String]) throws {
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: file))
    }

    /// A tampering, and the line and reason fragment the verifier must name.
    struct Tampering: Sendable, CustomStringConvertible {
        var description: String
        var apply: @Sendable ([String]) -> [String]
        var line: Int
        var reason: String
    }

    static let tamperings: [Tampering] = [
        Tampering(
            description: "a byte of an event changed",
            apply: { lines in
                var lines = lines
                lines[4] = lines[4].replacingOccurrences(of: "Patient/p5", with: "Patient/p6")
                return lines
            }, line: 5, reason: "hash does not match"),
        Tampering(
            description: "insignificant whitespace added",
            apply: { lines in
                var lines = lines
                lines[6] = lines[6].replacingOccurrences(of: "\"outcome\":", with: "\"outcome\": ")
                return lines
            }, line: 7, reason: "canonical form"),
        Tampering(
            description: "a record removed",
            apply: { lines in
                var lines = lines
                lines.remove(at: 3)
                return lines
            }, line: 4, reason: "seq out of order"),
        Tampering(
            description: "two records swapped",
            apply: { lines in
                var lines = lines
                lines.swapAt(7, 8)
                return lines
            }, line: 8, reason: "seq out of order"),
        Tampering(
            description: "a record rewritten with a fresh, self-consistent hash",
            apply: { lines in
                var lines = lines
                let record = try! JSONValue.parse(Array(lines[2].utf8))
                let event = sampleEvent(999)
                let prev = record["prev"]!.stringValue!
                let hash = RecordCodec.hash(seq: 3, prev: prev, event: CanonicalJSON.serialize(event))
                var bytes: [UInt8] = []
                RecordCodec.appendLine(
                    seq: 3, prev: prev, hash: hash, event: CanonicalJSON.serialize(event), to: &bytes)
                lines[2] = String(decoding: bytes.dropLast(), as: UTF8.self)
                return lines
            }, line: 4, reason: "prev does not match"),
        Tampering(
            description: "a line that is not JSON",
            apply: { lines in
                var lines = lines
                lines[9] = String(lines[9].dropLast(5))
                return lines
            }, line: 10, reason: "not valid JSON"),
    ]

    @Test("a tampered old record is named by file, line and seq", arguments: tamperings)
    func namesTamperedRecord(_ tampering: Tampering) throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let (file, lines) = writeChain(dir)
        #expect(AuditChainVerifier.verify(files: [file]).isValid)

        try rewrite(file, tampering.apply(lines))
        let report = AuditChainVerifier.verify(files: [file])
        let broken = try #require(report.firstBroken)
        #expect(broken.file == file)
        #expect(broken.line == tampering.line)
        #expect(broken.reason.contains(tampering.reason), "\(broken.reason)")
        #expect(report.description.hasPrefix("BROKEN \(file):\(tampering.line)"))
    }

    @Test("changing any single byte of an old record is detected at that record")
    func everyByteMatters() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let (file, _) = writeChain(dir, count: 3)
        let original = try Array(Data(contentsOf: URL(fileURLWithPath: file)))
        let secondLine = (original.firstIndex(of: 0x0A)! + 1)..<(original.indices.filter { original[$0] == 0x0A }[1])
        for index in secondLine {
            var bytes = original
            bytes[index] = bytes[index] == UInt8(ascii: "a") ? UInt8(ascii: "b") : UInt8(ascii: "a")
            try Data(bytes).write(to: URL(fileURLWithPath: file))
            let report = AuditChainVerifier.verify(files: [file])
            #expect(report.firstBroken?.line == 2, "byte \(index): \(report)")
        }
    }

    @Test("a missing newline at the end is reported as a torn line")
    func tornLine() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let (file, lines) = writeChain(dir, count: 4)
        try Data((lines.joined(separator: "\n")).utf8).write(to: URL(fileURLWithPath: file))
        let report = AuditChainVerifier.verify(files: [file])
        #expect(report.firstBroken?.line == 4)
        #expect(report.firstBroken?.reason.contains("torn") == true)
    }

    @Test("verifying a directory checks its chain files in seq order and ignores other files")
    func directory() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let sink = AuditFileSink(
            configuration: sinkConfiguration(dir.path, maxFileBytes: 2000), metrics: MetricsRegistry())
        for n in 1...20 { _ = sink.appendAndWait(sampleEvent(n, padding: 200)) }
        sink.stop()
        try Data("not a record\n".utf8).write(to: URL(fileURLWithPath: dir.file("audit-1.ndjson.torn-1-0")))
        let report = AuditChainVerifier.verify(directory: dir.path)
        #expect(report.isValid && report.recordsChecked == 20 && report.filesChecked > 2, "\(report)")
        #expect(AuditChainVerifier.verify(directory: dir.file("missing")).firstBroken != nil)
    }

    @Test("an unreadable file is reported")
    func unreadable() {
        let report = AuditChainVerifier.verify(files: ["/nonexistent/audit-1.ndjson"])
        #expect(report.firstBroken?.reason.hasPrefix("unreadable") == true)
    }

    @Test("a first record of seq 1 must link to the genesis hash")
    func genesis() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let event = CanonicalJSON.serialize(sampleEvent(1))
        let prev = String(repeating: "1", count: 64)
        var bytes: [UInt8] = []
        RecordCodec.appendLine(
            seq: 1, prev: prev, hash: RecordCodec.hash(seq: 1, prev: prev, event: event), event: event, to: &bytes)
        try Data(bytes).write(to: URL(fileURLWithPath: dir.file("audit-00000000000000000001.ndjson")))
        let report = AuditChainVerifier.verify(files: [dir.file("audit-00000000000000000001.ndjson")])
        #expect(report.firstBroken?.reason.contains("genesis") == true)
    }
}
