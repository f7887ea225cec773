import Foundation
import GatewayCore
import GatewayCrypto
import Synchronization
import Testing

@testable import Audit

@Suite("Audit file sink")
struct AuditFileSinkTests {
    @Test("writes one hash-chained record per line, each hash being SHA-256 of canonical {seq, prev, event}")
    func writesChain() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let registry = MetricsRegistry()
        let sink = AuditFileSink(configuration: sinkConfiguration(dir.path), metrics: registry)
        var receipts: [AuditReceipt] = []
        for n in 1...25 { receipts.append(try #require(sink.appendAndWait(sampleEvent(n)).value)) }
        sink.stop()

        #expect(receipts.map(\.seq) == Array(1...25))
        let files = dir.chainFiles()
        #expect(files.count == 1)
        let lines = dir.lines(files[0])
        #expect(lines.count == 25)
        var prev = AuditRecord.genesisHash
        for (index, line) in lines.enumerated() {
            let value = try JSONValue.parse(Array(line.utf8))
            #expect(value.objectValue?.keys == ["seq", "prev", "hash", "event"])
            #expect(value["seq"]?.intValue == index + 1)
            #expect(value["prev"]?.stringValue == prev)
            // Recompute with the general serializer, independent of the sink's own canonical writer.
            let content: JSONValue = ["seq": value["seq"]!, "prev": value["prev"]!, "event": value["event"]!]
            let expected = Digest.hex(Digest.sha256(content.serialized(sortedKeys: true)))
            #expect(value["hash"]?.stringValue == expected)
            // The event is stored in canonical member order, so compare canonical forms.
            #expect(value["event"]?.serialized(sortedKeys: true) == sampleEvent(index + 1).serialized(sortedKeys: true))
            prev = expected
        }
        #expect(receipts.last?.hash == prev)

        let report = AuditChainVerifier.verify(files: files)
        #expect(report.isValid, "\(report)")
        #expect(report.recordsChecked == 25)
        #expect(report.lastHash == prev)
        #expect(registry.render().contains("gateway_audit_records_total 25"))
        #expect(registry.render().contains("gateway_audit_fsync_seconds_count"))
    }

    @Test("start-up resumes the chain from the last record of the last file")
    func resumes() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let first = AuditFileSink(configuration: sinkConfiguration(dir.path), metrics: MetricsRegistry())
        for n in 1...5 { _ = first.appendAndWait(sampleEvent(n)) }
        first.stop()

        let second = AuditFileSink(configuration: sinkConfiguration(dir.path), metrics: MetricsRegistry())
        #expect(second.resumeReport?.lastSeq == 5)
        #expect(second.resumeReport?.tornTail == nil)
        let receipt = try #require(second.appendAndWait(sampleEvent(6)).value)
        second.stop()
        #expect(receipt.seq == 6)
        let report = AuditChainVerifier.verify(files: dir.chainFiles())
        #expect(report.isValid && report.recordsChecked == 6, "\(report)")
    }

    @Test("a torn last line after a crash is cut, kept in a side file and sealed by a tail-repair record")
    func sealsTornTail() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let first = AuditFileSink(configuration: sinkConfiguration(dir.path), metrics: MetricsRegistry())
        for n in 1...10 { _ = first.appendAndWait(sampleEvent(n)) }
        first.stop()

        // Simulate a crash in the middle of writing record 10: cut the file 40 bytes into that line.
        let file = try #require(dir.chainFiles().first)
        let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: file)))
        let lastLineStart = bytes.dropLast().lastIndex(of: 0x0A)! + 1
        let torn = Array(bytes[lastLineStart..<(lastLineStart + 40)])
        try Data(bytes[..<(lastLineStart + 40)]).write(to: URL(fileURLWithPath: file))
        #expect(!AuditChainVerifier.verify(files: [file]).isValid)

        let registry = MetricsRegistry()
        let second = AuditFileSink(configuration: sinkConfiguration(dir.path), metrics: registry)
        let tail = try #require(second.resumeReport?.tornTail)
        #expect(second.resumeReport?.lastSeq == 9)
        #expect(tail.offset == lastLineStart && tail.length == 40)
        #expect(tail.sha256 == Digest.hex(Digest.sha256(torn)))
        #expect(try Array(Data(contentsOf: URL(fileURLWithPath: dir.file(tail.savedAs)))) == torn)
        let next = try #require(second.appendAndWait(sampleEvent(11)).value)
        second.stop()
        #expect(next.seq == 11)

        let report = AuditChainVerifier.verify(files: dir.chainFiles())
        #expect(report.isValid, "\(report)")
        #expect(report.tailRepairs == [10])
        let repair = try JSONValue.parse(Array(dir.lines(file)[9].utf8))["event"]
        #expect(repair?["subtype"]?.arrayValue?.first?["code"]?.stringValue == "tail-repair")
        #expect(repair?["outcome"]?.stringValue == "8")
        #expect(repair?["outcomeDesc"]?.stringValue?.contains(tail.savedAs) == true)
    }

    @Test("rotation by size starts a new file whose first prev is the last hash of the previous file")
    func rotatesBySize() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let sink = AuditFileSink(
            configuration: sinkConfiguration(dir.path, maxFileBytes: 4096), metrics: MetricsRegistry())
        for n in 1...60 { _ = sink.appendAndWait(sampleEvent(n, padding: 200)) }
        sink.stop()

        let files = dir.chainFiles()
        #expect(files.count > 3)
        for (older, newer) in zip(files, files.dropFirst()) {
            let lastOfOlder = try JSONValue.parse(Array(dir.lines(older).last!.utf8))
            let firstOfNewer = try JSONValue.parse(Array(dir.lines(newer).first!.utf8))
            #expect(firstOfNewer["prev"] == lastOfOlder["hash"])
            let seq = try #require(firstOfNewer["seq"]?.intValue)
            #expect(newer.hasSuffix(String(format: "audit-%020d.ndjson", seq)))
            #expect(FileManager.default.fileSizeOrZero(older) <= 4096)
        }
        let report = AuditChainVerifier.verify(files: files)
        #expect(report.isValid && report.recordsChecked == 60, "\(report)")
        let later = AuditChainVerifier.verify(files: Array(files.dropFirst()))
        #expect(later.isValid && later.anchoredStart, "\(later)")
        #expect(!AuditChainVerifier.verify(files: [files[0], files[2]]).isValid)
    }

    @Test("rotation by age starts a new file once the current one is older than maxFileAge")
    func rotatesByAge() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let clock = ManualClock()
        let sink = AuditFileSink(
            configuration: sinkConfiguration(dir.path, maxFileAge: 60), clock: clock, metrics: MetricsRegistry())
        _ = sink.appendAndWait(sampleEvent(1))
        _ = sink.appendAndWait(sampleEvent(2))
        clock.advance(61)
        _ = sink.appendAndWait(sampleEvent(3))
        sink.stop()
        let files = dir.chainFiles()
        #expect(files.count == 2)
        #expect(dir.lines(files[1]).count == 1)
        #expect(AuditChainVerifier.verify(files: files).isValid)
    }

    @Test("when the directory cannot be created every append fails with unavailable and the metric shows it")
    func unwritableDirectory() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        // A path under a regular file fails with ENOTDIR even for root.
        _ = FileManager.default.createFile(atPath: dir.file("plain-file"), contents: Data("x".utf8))
        let registry = MetricsRegistry()
        let sink = AuditFileSink(configuration: sinkConfiguration(dir.file("plain-file/audit")), metrics: registry)
        #expect(!sink.isAvailable)
        for n in 1...3 {
            let error = try #require(sink.appendAndWait(sampleEvent(n)).error)
            #expect(error == .unavailable)
            #expect(error.status == 503)
        }
        sink.stop()
        let metrics = registry.render()
        #expect(metrics.contains("gateway_audit_write_failures_total 3"))
        #expect(metrics.contains("gateway_audit_sink_available 0"))
        #expect(metrics.contains("gateway_audit_records_total 0"))
    }

    @Test("many concurrent appends all complete, in one gap-free chain that survives a restart")
    func concurrentAppends() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let sink = AuditFileSink(
            configuration: AuditFileSink.Configuration(directory: dir.path, commitDelay: 0.001),
            metrics: MetricsRegistry())
        let seqs = Mutex<[UInt64]>([])
        let group = DispatchGroup()
        let threads = 8
        let perThread = 400
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for i in 0..<perThread {
                group.enter()
                sink.append(sampleEvent(t * perThread + i)) { result in
                    if case .success(let receipt) = result { seqs.withLock { $0.append(receipt.seq) } }
                    group.leave()
                }
            }
        }
        #expect(group.wait(timeout: .now() + 60) == .success)
        #expect(seqs.withLock { $0.sorted() } == Array(1...UInt64(threads * perThread)))
        #expect(sink.durableSeq == UInt64(threads * perThread))
        sink.stop()

        let report = AuditChainVerifier.verify(files: dir.chainFiles())
        #expect(report.isValid && report.recordsChecked == threads * perThread, "\(report)")
        let reopened = AuditFileSink(configuration: sinkConfiguration(dir.path), metrics: MetricsRegistry())
        #expect(reopened.resumeReport?.lastSeq == UInt64(threads * perThread))
        reopened.stop()
    }

    @Test(
        "a full file system fails appends with unavailable, leaves no partial record, and recovers",
        .enabled(if: TinyFileSystem.canMount))
    func diskFull() throws {
        let fs = try #require(TinyFileSystem(kilobytes: 256))
        defer { fs.unmount() }
        let registry = MetricsRegistry()
        let sink = AuditFileSink(configuration: sinkConfiguration(fs.path + "/audit"), metrics: registry)
        let filler = fs.path + "/filler"
        _ = FileManager.default.createFile(atPath: filler, contents: Data(count: 128 << 10))

        var written = 0
        var failure: AuditError?
        for n in 1...200 {
            switch sink.appendAndWait(sampleEvent(n, padding: 3000)) {
            case .success: written += 1
            case .failure(let error): failure = error
            }
            if failure != nil { break }
        }
        #expect(failure == .unavailable)
        #expect(written > 0)
        #expect(!sink.isAvailable)
        #expect(registry.render().contains("gateway_audit_write_failures_total 1"))
        let whileFull = AuditChainVerifier.verify(files: TempDirectory.chainFiles(in: fs.path + "/audit"))
        #expect(whileFull.isValid && whileFull.recordsChecked == written, "\(whileFull)")

        try FileManager.default.removeItem(atPath: filler)
        usleep(100_000)
        let after = try #require(sink.appendAndWait(sampleEvent(999)).value)
        sink.stop()
        #expect(after.seq >= UInt64(written + 1))
        #expect(registry.render().contains("gateway_audit_sink_available 1"))
        let report = AuditChainVerifier.verify(files: TempDirectory.chainFiles(in: fs.path + "/audit"))
        #expect(report.isValid && report.lastSeq == after.seq, "\(report)")
    }

    @Test("appends after stop fail with stopped")
    func afterStop() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let sink = AuditFileSink(configuration: sinkConfiguration(dir.path), metrics: MetricsRegistry())
        sink.stop()
        #expect(sink.appendAndWait(sampleEvent(1)).error == .stopped)
    }
}

extension FileManager {
    func fileSizeOrZero(_ path: String) -> Int {
        ((try? attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
    }
}

/// A tmpfs of a few kilobytes, to make ENOSPC real (root ignores permissions, but not a full disk).
struct TinyFileSystem {
    let path: String

    static let canMount: Bool = {
        guard let probe = TinyFileSystem(kilobytes: 64) else { return false }
        probe.unmount()
        return true
    }()

    init?(kilobytes: Int) {
        path = NSTemporaryDirectory() + "audit-tmpfs-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        guard Self.run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(kilobytes)k", "tmpfs", path]) else {
            try? FileManager.default.removeItem(atPath: path)
            return nil
        }
    }

    func unmount() {
        _ = Self.run("/bin/umount", [path])
        try? FileManager.default.removeItem(atPath: path)
    }

    private static func run(_ tool: String, _ arguments: [String]) -> Bool {
        guard FileManager.default.isExecutableFile(atPath: tool) else { return false }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }
}
