import Foundation
import GatewayCore
import Synchronization
import Testing

@testable import Audit

/// kill -9 of a process in the middle of a stream of appends (issue #7 "Bad input and faults"): after the
/// restart the chain verifies, a torn tail (if any) is sealed, and every record whose completion ran before
/// the kill is in the chain with the hash its writer was told.
@Suite("Audit crash recovery")
struct AuditCrashTests {
    static let childDirectory = ProcessInfo.processInfo.environment["AUDIT_CRASH_CHILD_DIR"]

    @Test(
        "child process: appends from 8 threads and prints each acknowledgement until killed",
        .enabled(if: AuditCrashTests.childDirectory != nil))
    func crashChild() throws {
        let directory = try #require(Self.childDirectory)
        let sink = AuditFileSink(
            configuration: .init(directory: directory, commitDelay: 0.0005), metrics: MetricsRegistry())
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            var n = 0
            while true {
                n += 1
                // Uneven sizes make a torn line at the moment of the kill likely.
                let event = sampleEvent(thread * 1_000_000 + n, padding: (n * 37) % 3000)
                guard case .success(let receipt) = sink.appendAndWait(event) else { continue }
                FileHandle.standardOutput.write(Data("ACK \(receipt.seq) \(receipt.hash)\n".utf8))
            }
        }
    }

    @Test("after kill -9 every acknowledged record is in a chain that verifies", .enabled(if: childDirectory == nil))
    func killNine() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        var acknowledged: [UInt64: String] = [:]
        for round in 1...3 {
            let acks = try runChildUntilKilled(dir.path, minimumAcks: 200 * round)
            acknowledged.merge(acks) { old, _ in old }

            let sink = AuditFileSink(configuration: sinkConfiguration(dir.path), metrics: MetricsRegistry())
            let resumed = try #require(sink.resumeReport)
            sink.stop()
            #expect(resumed.lastSeq >= acks.keys.max() ?? 0)
            let report = AuditChainVerifier.verify(files: dir.chainFiles())
            #expect(report.isValid, "round \(round): \(report)")
            print(
                "audit crash round \(round): \(acks.count) acks, resumed at seq \(resumed.lastSeq), torn tail: "
                    + (resumed.tornTail.map { "\($0.length) bytes sealed" } ?? "none"))
        }

        var chain: [UInt64: String] = [:]
        for file in dir.chainFiles() {
            for line in dir.lines(file) {
                let record = try RecordCodec.decode(ArraySlice(Array(line.utf8))).get()
                chain[record.seq] = record.hash
            }
        }
        #expect(acknowledged.count >= 600)
        let missing = acknowledged.filter { chain[$0.key] != $0.value }
        #expect(missing.isEmpty, "\(missing.count) acknowledged records are missing or changed")
    }

    /// Runs this test binary as a child writing to `directory`, kills it with SIGKILL once it has acknowledged
    /// `minimumAcks` records, and returns every acknowledgement it printed (seq → hash).
    private func runChildUntilKilled(_ directory: String, minimumAcks: Int) throws -> [UInt64: String] {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        child.arguments = ["--testing-library", "swift-testing", "--filter", "AuditCrashTests/crashChild"]
        child.environment = ProcessInfo.processInfo.environment.merging(["AUDIT_CRASH_CHILD_DIR": directory]) { $1 }
        let output = Pipe()
        child.standardOutput = output
        child.standardError = FileHandle.nullDevice
        try child.run()

        var text = ""
        var acks: [UInt64: String] = [:]
        let deadline = Date(timeIntervalSinceNow: 120)
        while acks.count < minimumAcks && Date() < deadline {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
            acks = Self.parseAcks(text)
        }
        kill(child.processIdentifier, SIGKILL)
        child.waitUntilExit()
        text += String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        acks = Self.parseAcks(text)
        #expect(acks.count >= minimumAcks, "the child acknowledged only \(acks.count) records")
        return acks
    }

    /// `ACK <seq> <hash>` lines; a line cut by the kill is ignored.
    static func parseAcks(_ text: String) -> [UInt64: String] {
        var acks: [UInt64: String] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("ACK ") {
            let parts = line.split(separator: " ")
            if parts.count == 3, let seq = UInt64(parts[1]), parts[2].count == 64 { acks[seq] = String(parts[2]) }
        }
        return acks
    }
}
