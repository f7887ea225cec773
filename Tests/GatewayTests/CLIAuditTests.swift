import Audit
import Foundation
import GatewayCore
import Testing
@testable import Gateway

@Suite("pdmp-gateway audit verify")
struct CLIAuditTests {
    /// Writes `count` records through the real sink; small files so that the chain spans several.
    static func writeChain(_ directory: String, count: Int, maxFileBytes: Int = 64 << 20) throws -> [String] {
        let sink = AuditFileSink(configuration: AuditFileSink.Configuration(
            directory: directory, maxFileBytes: maxFileBytes, maxFileAge: nil, commitDelay: 0, instanceID: "gw-test"),
            metrics: MetricsRegistry())
        for n in 1...count {
            let event: JSONValue = ["resourceType": "AuditEvent", "id": .string("ev-\(n)"), "n": .number(String(n))]
            guard case .success = sink.appendAndWait(event) else { throw CommandFailure("append \(n) failed") }
        }
        sink.stop()
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".ndjson") }
        return names.sorted().map { directory + "/" + $0 }
    }

    static func lines(_ file: String) throws -> [String] {
        try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    static func rewrite(_ file: String, _ lines: [String]) throws {
        try (lines.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
    }

    @Test("an intact chain across several files verifies, given as files or as their directory")
    func intact() throws {
        let dir = try TemporaryDirectory()
        let files = try Self.writeChain(dir.path, count: 12, maxFileBytes: 700)
        #expect(files.count > 1)
        let run = runCLI(["audit", "verify"] + files)
        #expect(run.status == 0, "\(run.err)")
        #expect(run.out.hasPrefix("OK 12 records in \(files.count) files, seq 1...12"))
        // Other files in the directory (notes, a torn tail set aside) are not part of the chain.
        try dir.write("notes.ndjson", "not a record\n")
        try dir.write("audit-00000000000000000001.ndjson.torn-3-0", "{\"seq\":4,\n")
        let byDirectory = runCLI(["audit", "verify", dir.path])
        #expect(byDirectory.status == 0)
        #expect(byDirectory.out == run.out)
    }

    @Test("an edited record is named with its file, line and seq (exit 1)")
    func edited() throws {
        let dir = try TemporaryDirectory()
        let files = try Self.writeChain(dir.path, count: 5)
        var lines = try Self.lines(files[0])
        lines[2] = lines[2].replacingOccurrences(of: "ev-3", with: "ev-X")
        try Self.rewrite(files[0], lines)
        let run = runCLI(["audit", "verify", files[0]])
        #expect(run.status == 1)
        #expect(run.out.isEmpty)
        #expect(run.err.hasPrefix("BROKEN \(files[0]):3 seq 3: "))
    }

    @Test("a removed record breaks the chain at the record after it")
    func removed() throws {
        let dir = try TemporaryDirectory()
        let files = try Self.writeChain(dir.path, count: 5)
        var lines = try Self.lines(files[0])
        lines.remove(at: 1)
        try Self.rewrite(files[0], lines)
        let run = runCLI(["audit", "verify", files[0]])
        #expect(run.status == 1)
        #expect(run.err.contains(":2 seq 3: seq out of order"))
    }

    @Test("files given out of chain order do not verify")
    func outOfOrder() throws {
        let dir = try TemporaryDirectory()
        let files = try Self.writeChain(dir.path, count: 12, maxFileBytes: 700)
        let run = runCLI(["audit", "verify"] + files.reversed())
        #expect(run.status == 1)
        #expect(run.err.hasPrefix("BROKEN"))
    }

    @Test("no files is a usage error; a missing file fails")
    func arguments() {
        #expect(runCLI(["audit", "verify"]).status == 2)
        let missing = runCLI(["audit", "verify", "/nonexistent/audit-1.ndjson"])
        #expect(missing.status == 1)
        #expect(missing.err.contains("no such file"))
    }

    @Test("audit bench writes real records, verifies their chain, reports both rates, and cleans up")
    func bench() throws {
        let dir = try TemporaryDirectory()
        let run = runCLI(["audit", "bench", "--records", "300", "--producers", "3", "--dir", dir.path])
        #expect(run.status == 0, "\(run.err)")
        #expect(run.out.contains("300 records of "))
        #expect(run.out.contains("chain verified: 300 records"))
        for label in ["gateway ", "reference ", "ratio gateway/reference: "] {
            #expect(run.out.contains(label), "missing \(label)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
        let kept = runCLI(["audit", "bench", "--records", "20", "--dir", dir.path, "--keep"])
        #expect(kept.status == 0)
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(left.count == 1)
        let chain = dir.path + "/" + left[0] + "/chain"
        #expect(runCLI(["audit", "verify", chain]).out.hasPrefix("OK 20 records"))
    }

    @Test("audit bench refuses bad counts and arguments (usage error), and an unwritable directory (exit 1)")
    func benchArguments() throws {
        #expect(runCLI(["audit", "bench", "--records", "0"]).status == 2)
        #expect(runCLI(["audit", "bench", "--records", "many"]).status == 2)
        #expect(runCLI(["audit", "bench", "--producers", "-1"]).status == 2)
        #expect(runCLI(["audit", "bench", "extra"]).status == 2)
        #expect(runCLI(["audit", "bench", "--speed", "9"]).status == 2)
        let dir = try TemporaryDirectory()
        let file = try dir.write("plain-file", "x")
        let unwritable = runCLI(["audit", "bench", "--records", "5", "--dir", file])
        #expect(unwritable.status == 1)
        #expect(unwritable.err.contains("audit bench"))
    }
}
