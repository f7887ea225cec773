// Start-up (and recovery) of the file sink: find the chain head, seal a torn tail (issue #7: "a torn last
// line is reported and sealed, not silently dropped").
//
// A crash between write() and fdatasync() can leave the last line partial, or (on file systems that do not
// order data writes) leave lines that are complete but garbled. Every byte after the last line that is a
// valid record is cut away, kept verbatim in a side file `<chain file>.torn-<seq>-<n>`, and a `tail-repair`
// record naming the side file, length and SHA-256 is chained in its place. Records never acknowledged to
// a caller are the only ones that can be in that region, because callbacks run after fdatasync.

import Foundation
import GatewayCore
import GatewayCrypto
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

extension AuditFileSink {
    /// Resumes the chain and records the outcome in the writer state and metrics.
    func attemptResume() {
        writer.lastAttempt = clock.now()
        do {
            let report = try resumeChain()
            writer.healthy = true
            writer.failure = ""
            metrics.available.set(1)
            durable.store(writer.lastSeq, ordering: .releasing)
            resume.withLock { $0 = report }
            if let torn = report.tornTail {
                logger.warning(
                    "audit torn tail sealed",
                    metadata: [
                        "audit.file": torn.file, "audit.bytes": String(torn.length), "audit.saved_as": torn.savedAs,
                    ])
            }
        } catch {
            markFailed(error, rollbackTo: nil)
        }
    }

    private func resumeChain() throws -> AuditResumeReport {
        if writer.fd >= 0 { close(writer.fd) }
        writer.fd = -1
        let directory = configuration.directory
        try FileIO.makeDirectory(directory)
        let files = try FileIO.list(directory).filter {
            ChainFiles.firstSeq(of: $0, prefix: configuration.filePrefix) != nil
        }
        guard let lastFile = files.last else { return try startFreshChain() }

        let path = FileIO.join(directory, lastFile)
        let bytes = try FileIO.read(path)
        let tail = Self.lastValidRecord(in: bytes)
        let head = try tail.record.map { ($0.seq, $0.hash) } ?? chainHead(before: files.dropLast())

        writer.fd = try FileIO.openForAppend(path, create: false)
        writer.file = lastFile
        writer.fileBytes = bytes.count
        writer.openedAt = clock.now()
        writer.lastSeq = head.0
        writer.lastHash = head.1
        var report = AuditResumeReport(lastSeq: head.0, lastHash: head.1, file: lastFile, tornTail: nil)
        if tail.end < bytes.count {
            report.tornTail = try sealTornTail(Array(bytes[tail.end...]), offset: tail.end, afterSeq: head.0)
        }
        return report
    }

    /// An empty directory: create the first file now, so that a read-only directory shows at start-up.
    private func startFreshChain() throws -> AuditResumeReport {
        let name = ChainFiles.name(prefix: configuration.filePrefix, firstSeq: 1)
        writer.fd = try FileIO.openForAppend(FileIO.join(configuration.directory, name), create: true)
        try FileIO.syncDirectory(configuration.directory)
        writer.file = name
        writer.fileBytes = 0
        writer.openedAt = clock.now()
        writer.lastSeq = 0
        writer.lastHash = AuditRecord.genesisHash
        return AuditResumeReport(lastSeq: 0, lastHash: AuditRecord.genesisHash, file: name, tornTail: nil)
    }

    /// The last valid record of the newest earlier file that has one (genesis when none has).
    private func chainHead(before files: ArraySlice<String>) throws -> (UInt64, String) {
        for name in files.reversed() {
            let bytes = try FileIO.read(FileIO.join(configuration.directory, name))
            if let record = Self.lastValidRecord(in: bytes).record { return (record.seq, record.hash) }
        }
        return (0, AuditRecord.genesisHash)
    }

    /// Saves the torn bytes to a side file, cuts them from the chain file and chains a `tail-repair` record.
    private func sealTornTail(_ torn: [UInt8], offset: Int, afterSeq: UInt64) throws -> AuditResumeReport.TornTail {
        let directory = configuration.directory
        var attempt = 0
        var side = ""
        repeat {
            side = "\(writer.file).torn-\(afterSeq)-\(attempt)"
            attempt += 1
        } while FileManager.default.fileExists(atPath: FileIO.join(directory, side))
        try FileIO.writeAtomically(torn, to: FileIO.join(directory, side), directory: directory)
        try FileIO.truncate(writer.fd, to: offset, path: writer.file)
        try FileIO.syncData(writer.fd, path: writer.file)
        writer.fileBytes = offset

        let info = AuditResumeReport.TornTail(
            file: writer.file, offset: offset, length: torn.count, sha256: Digest.hex(Digest.sha256(torn)),
            savedAs: side)
        let event = CanonicalJSON.serialize(tailRepairEvent(info, afterSeq: afterSeq))
        writer.healthy = true
        guard writeSegment(ArraySlice([Pending(event: event, completion: { _ in })])) != nil else {
            throw FileIOError("write tail-repair record", writer.file, EIO)
        }
        return info
    }

    /// The `tail-repair` AuditEvent: an application-activity event with serious-failure outcome.
    func tailRepairEvent(_ torn: AuditResumeReport.TornTail, afterSeq: UInt64) -> JSONValue {
        let device = JSONValue.obj([
            ("type", .str("Device")),
            (
                "identifier",
                .obj([("system", .str("urn:pdmp-gateway:instance")), ("value", .str(configuration.instanceID))])
            ),
        ])
        let details: [JSONValue] = [
            ("file", torn.file), ("offset", String(torn.offset)), ("length", String(torn.length)),
            ("sha256", torn.sha256), ("after-seq", String(afterSeq)),
        ].map { .obj([("type", .str($0.0)), ("valueString", .str($0.1))]) }
        let description =
            "torn tail sealed: \(torn.length) bytes after seq \(afterSeq) cut from \(torn.file), "
            + "kept in \(torn.savedAs)"
        return .obj([
            ("resourceType", .str("AuditEvent")),
            ("type", .coding(CodeSystem.dicom, "110100")),
            ("subtype", .array([.coding(CodeSystem.gateway, "tail-repair")])),
            ("action", .str("E")),
            ("recorded", .str(AuditTime.instant(clock.now()))),
            ("outcome", .str("8")),
            ("outcomeDesc", .str(description)),
            (
                "agent",
                .array([
                    .obj([("type", .concept(CodeSystem.dicom, "110150")), ("who", device), ("requestor", .bool(false))])
                ])
            ),
            ("source", .obj([("observer", device), ("type", .array([.coding(CodeSystem.sourceType, "4")]))])),
            (
                "entity",
                .array([
                    .obj([
                        ("what", .obj([("identifier", .obj([("value", .str(torn.savedAs))]))])),
                        ("type", .coding(CodeSystem.entityType, "2")), ("detail", .array(details)),
                    ])
                ])
            ),
        ])
    }

    /// The end offset (after its newline) and record of the last line that is a valid record; lines are
    /// tried from the end. Only newline-terminated lines count.
    static func lastValidRecord(in bytes: [UInt8]) -> (end: Int, record: AuditRecord?) {
        guard var lineEnd = bytes.lastIndex(of: 0x0A) else { return (0, nil) }
        while true {
            let lineStart = (bytes[..<lineEnd].lastIndex(of: 0x0A) ?? -1) + 1
            if case .success(let record) = RecordCodec.decode(bytes[lineStart..<lineEnd]) {
                return (lineEnd + 1, record)
            }
            if lineStart == 0 { return (0, nil) }
            lineEnd = lineStart - 1
        }
    }
}
