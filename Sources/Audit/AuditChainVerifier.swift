// `pdmp-gateway audit verify FILE...` (ARCHITECTURE §4): checks every record's own hash and canonical bytes
// and every link (seq + 1, prev = previous hash) across the files in the order given, and names the first
// broken record.

import GatewayCore

/// The result of checking a hash chain.
public struct VerificationReport: Sendable, Hashable, CustomStringConvertible {
    /// The first record that breaks the chain.
    public struct BrokenRecord: Sendable, Hashable {
        /// The file as given to the verifier.
        public var file: String
        /// The 1-based line number in that file.
        public var line: Int
        /// The record's seq when it could be read, else nil.
        public var seq: UInt64?
        /// Why the record breaks the chain.
        public var reason: String
    }

    /// True when every record checked out.
    public var isValid: Bool { firstBroken == nil }
    /// The first record that breaks the chain, nil when the chain is intact.
    public var firstBroken: BrokenRecord?
    /// Files read.
    public var filesChecked = 0
    /// Records that checked out.
    public var recordsChecked = 0
    /// The seq of the first record checked.
    public var firstSeq: UInt64?
    /// The seq of the last record that checked out.
    public var lastSeq: UInt64?
    /// The hash of the last record that checked out.
    public var lastHash: String?
    /// True when the first record is not seq 1, so its `prev` could not be checked (earlier files archived).
    public var anchoredStart = false
    /// The seqs of `tail-repair` records (each marks a crash whose torn tail was sealed).
    public var tailRepairs: [UInt64] = []

    /// One line: `OK ...` or `BROKEN <file>:<line> seq <n>: <reason>` (the CLI prints it).
    public var description: String {
        if let broken = firstBroken {
            let seq = broken.seq.map { " seq \($0)" } ?? ""
            return "BROKEN \(broken.file):\(broken.line)\(seq): \(broken.reason)"
        }
        var text = "OK \(recordsChecked) records in \(filesChecked) files"
        if let first = firstSeq, let last = lastSeq { text += ", seq \(first)...\(last)" }
        if let lastHash { text += ", last hash \(lastHash)" }
        if anchoredStart { text += "; chain starts after seq 1 (the first prev is taken on trust)" }
        if !tailRepairs.isEmpty {
            text += "; tail repairs at seq " + tailRepairs.map(String.init).joined(separator: ",")
        }
        return text
    }
}

/// Verifies audit chain files.
public enum AuditChainVerifier {
    /// Checks `files` (paths, in chain order) and returns the report; stops at the first broken record.
    public static func verify(files: [String]) -> VerificationReport {
        var report = VerificationReport()
        var previous: (seq: UInt64, hash: String)?
        for file in files {
            report.filesChecked += 1
            let bytes: [UInt8]
            do {
                bytes = try FileIO.read(file)
            } catch {
                report.firstBroken = .init(file: file, line: 1, seq: nil, reason: "unreadable: \(error)")
                return report
            }
            if let broken = check(bytes, file: file, previous: &previous, report: &report) {
                report.firstBroken = broken
                return report
            }
        }
        return report
    }

    /// Checks every chain file (`<prefix>-<seq>.ndjson`) in `directory`, in chain order.
    public static func verify(directory: String, prefix: String = "audit") -> VerificationReport {
        let names: [String]
        do {
            names = try FileIO.list(directory).filter { ChainFiles.firstSeq(of: $0, prefix: prefix) != nil }
        } catch {
            var report = VerificationReport()
            report.firstBroken = .init(file: directory, line: 0, seq: nil, reason: "unreadable: \(error)")
            return report
        }
        return verify(files: names.map { FileIO.join(directory, $0) })
    }

    private static func check(
        _ bytes: [UInt8], file: String, previous: inout (seq: UInt64, hash: String)?, report: inout VerificationReport
    ) -> VerificationReport.BrokenRecord? {
        var start = 0
        var line = 0
        while start < bytes.count {
            line += 1
            guard let newline = bytes[start...].firstIndex(of: 0x0A) else {
                return .init(file: file, line: line, seq: nil, reason: "torn line (no newline at the end of the file)")
            }
            let record: AuditRecord
            switch RecordCodec.decode(bytes[start..<newline]) {
            case .success(let decoded): record = decoded
            case .failure(let problem):
                return .init(file: file, line: line, seq: seqHint(bytes[start..<newline]), reason: problem.description)
            }
            if let reason = linkProblem(record, previous: previous, report: &report) {
                return .init(file: file, line: line, seq: record.seq, reason: reason)
            }
            note(record, report: &report)
            previous = (record.seq, record.hash)
            start = newline + 1
        }
        return nil
    }

    private static func linkProblem(
        _ record: AuditRecord, previous: (seq: UInt64, hash: String)?, report: inout VerificationReport
    ) -> String? {
        guard let previous else {
            if record.seq == 1 {
                return record.prev == AuditRecord.genesisHash ? nil : "first record's prev is not the genesis hash"
            }
            report.anchoredStart = true
            return nil
        }
        if record.seq != previous.seq + 1 {
            return "seq out of order (expected \(previous.seq + 1)): a record was removed, inserted or reordered"
        }
        if record.prev != previous.hash { return "prev does not match the previous record's hash" }
        return nil
    }

    private static func note(_ record: AuditRecord, report: inout VerificationReport) {
        report.recordsChecked += 1
        if report.firstSeq == nil { report.firstSeq = record.seq }
        report.lastSeq = record.seq
        report.lastHash = record.hash
        let isRepair = record.event["subtype"]?.arrayValue?.contains {
            $0["system"]?.stringValue == CodeSystem.gateway && $0["code"]?.stringValue == "tail-repair"
        }
        if isRepair == true { report.tailRepairs.append(record.seq) }
    }

    /// The seq of a damaged line when its prefix still reads `{"seq":N,`.
    private static func seqHint(_ line: ArraySlice<UInt8>) -> UInt64? {
        let head = Array(#"{"seq":"#.utf8)
        guard line.starts(with: head) else { return nil }
        let digits = line.dropFirst(head.count).prefix { $0 >= 0x30 && $0 <= 0x39 }
        return UInt64(String(decoding: digits, as: UTF8.self))
    }
}
