// `pdmp-gateway audit bench` (issue #7: "sink benchmark: ≥ 20,000 durable records/s"): how many records
// per second the gateway's audit path makes durable on this disk, next to a reference measured in the same
// run on the same disk. The gateway figure covers what a request pays for its record: the AuditEvent
// written as canonical bytes from an `AuditInput`, chained and hashed, then group-committed by the real
// file sink (one write + fdatasync per batch). The reference appends exactly the bytes the sink wrote, in
// batches of the sink's average size, with plain write + fdatasync: the cost of the disk alone.

import FHIR
import Foundation
import GatewayCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Measures the audit file sink against plain write + fdatasync of the same bytes.
public enum AuditSinkBenchmark {
    /// What one run measured.
    public struct Result: Sendable {
        /// Records written (and verified).
        public var records: Int
        /// Producer threads (stand-ins for the gateway's event loops).
        public var producers: Int
        /// Mean size of an event's canonical bytes.
        public var meanEventBytes: Int
        /// Seconds from the first append until every record was durable.
        public var gatewaySeconds: Double
        /// CPU seconds (user + system, all threads of this process) in that time.
        public var gatewayCPUSeconds: Double
        /// fdatasyncs the sink made (group commits).
        public var commits: Int
        /// Seconds the reference took (same bytes, same batch sizes, write + fdatasync only).
        public var referenceSeconds: Double
        /// CPU seconds the reference used.
        public var referenceCPUSeconds: Double
        /// The records the chain verifier checked afterwards (equals `records` when the run was sound).
        public var verifiedRecords: Int

        /// Durable records per second through the gateway's audit path.
        public var gatewayRate: Double { Double(records) / gatewaySeconds }
        /// Records per second of the reference.
        public var referenceRate: Double { Double(records) / referenceSeconds }
        /// gateway / reference: 1.0 means the audit path costs no more than the disk.
        public var ratio: Double { gatewayRate / referenceRate }
        /// CPU microseconds per durable record through the gateway's audit path (steadier than the rate on a
        /// busy machine).
        public var gatewayCPUMicrosPerRecord: Double { gatewayCPUSeconds * 1e6 / Double(records) }
        /// CPU microseconds per record of the reference.
        public var referenceCPUMicrosPerRecord: Double { referenceCPUSeconds * 1e6 / Double(records) }
        /// Records per group commit, on average.
        public var recordsPerCommit: Int { max(1, Int((Double(records) / Double(max(commits, 1))).rounded())) }
    }

    /// A benchmark that could not run (directory not writable, a record failed).
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Writes `records` records from `producers` threads into a fresh directory inside `directory`, verifies
    /// the chain, runs the reference there, and removes what it wrote unless `keep`.
    /// - Warning: blocking file I/O for seconds; a command-line tool, never an event loop.
    public static func run(records: Int, producers: Int, directory: String, keep: Bool = false) throws -> Result {
        let root = FileIO.join(directory, "audit-bench-\(getpid())-\(Int(Date().timeIntervalSince1970))")
        let chainDirectory = FileIO.join(root, "chain")
        try FileIO.makeDirectory(root)
        defer { if !keep { try? FileManager.default.removeItem(atPath: root) } }

        let builder = AuditEventBuilder(configuration: benchConfiguration)
        let pool = (0..<256).map(sampleInput)
        let registry = MetricsRegistry()
        let sink = AuditFileSink(
            configuration: .init(directory: chainDirectory, maxFileAge: nil, instanceID: "gw-bench"),
            metrics: registry)
        guard sink.isAvailable else {
            sink.stop()
            throw Failure(description: "cannot write the audit sink in \(chainDirectory)")
        }

        let failures = Atomic<Int>(0)
        let done = DispatchGroup()
        for _ in 0..<records { done.enter() }
        let started = monotonicNanos()
        let startedCPU = processCPUSeconds()
        DispatchQueue.concurrentPerform(iterations: producers) { producer in
            for n in stride(from: producer, to: records, by: producers) {
                sink.append(canonicalEvent: builder.canonicalEvent(pool[n % pool.count])) { result in
                    if case .failure = result { failures.add(1, ordering: .relaxed) }
                    done.leave()
                }
            }
        }
        done.wait()
        let gatewaySeconds = Double(monotonicNanos() - started) / 1e9
        let gatewayCPUSeconds = processCPUSeconds() - startedCPU
        sink.stop()
        let commits = Int(registry.histogram("gateway_audit_fsync_seconds", help: "").observations)
        guard failures.load(ordering: .relaxed) == 0 else {
            throw Failure(
                description: "\(failures.load(ordering: .relaxed)) records failed: the sink became unavailable")
        }

        let files = try FileIO.list(chainDirectory).filter { ChainFiles.firstSeq(of: $0, prefix: "audit") != nil }
            .sorted().map { FileIO.join(chainDirectory, $0) }
        let verified = AuditChainVerifier.verify(files: files).recordsChecked
        let lines = try files.flatMap { try FileIO.read($0).split(separator: UInt8(ascii: "\n")) }
        let eventBytes = pool.reduce(0) { $0 + builder.canonicalEvent($1).count } / pool.count

        var result = Result(
            records: records, producers: producers, meanEventBytes: eventBytes, gatewaySeconds: gatewaySeconds,
            gatewayCPUSeconds: gatewayCPUSeconds, commits: commits, referenceSeconds: 0, referenceCPUSeconds: 0,
            verifiedRecords: verified)
        (result.referenceSeconds, result.referenceCPUSeconds) = try reference(
            lines: lines, perCommit: result.recordsPerCommit, path: FileIO.join(root, "reference.ndjson"),
            directory: root)
        return result
    }

    /// Appends `lines` (newline restored) in batches of `perCommit` with one write + fdatasync each; wall and
    /// CPU seconds.
    static func reference(
        lines: [ArraySlice<UInt8>], perCommit: Int, path: String, directory: String
    ) throws -> (seconds: Double, cpuSeconds: Double) {
        // The batches are assembled before the clock starts: the reference is the disk, nothing else.
        let batches = stride(from: 0, to: lines.count, by: perCommit).map { start -> [UInt8] in
            var buffer = [UInt8]()
            for line in lines[start..<min(start + perCommit, lines.count)] {
                buffer.append(contentsOf: line)
                buffer.append(UInt8(ascii: "\n"))
            }
            return buffer
        }
        let fd = try FileIO.openForAppend(path, create: true)
        defer { close(fd) }
        try FileIO.syncDirectory(directory)
        let started = monotonicNanos()
        let startedCPU = processCPUSeconds()
        for batch in batches {
            try FileIO.write(fd, batch, path: path)
            try FileIO.syncData(fd, path: path)
        }
        return (Double(monotonicNanos() - started) / 1e9, processCPUSeconds() - startedCPU)
    }

    /// User + system CPU seconds of this process so far (all threads).
    static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// The 1-minute load average (Linux `/proc/loadavg`), nil where unknown: rates mean little on a busy machine.
    public static func loadAverage() -> String? {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return nil }
        return text.split(separator: " ").prefix(3).joined(separator: " ")
    }

    static let benchConfiguration = AuditEventBuilder.Configuration(
        instanceID: "gw-bench", site: "gw.example.org", fhirBaseURL: "https://gw.example.org/fhir",
        tokenEndpointURL: "https://gw.example.org/auth/token", identifierHashKey: Array("bench-key".utf8))

    /// The common case in production: an allowed BALP PatientQuery by a registered client with a token,
    /// a policy decision, a purpose of use and patients found in the response; about 3 KB of canonical JSON.
    static func sampleInput(_ n: Int) -> AuditInput {
        var search = Interaction(kind: .searchType, method: "GET", resourceType: "MedicationDispense")
        search.patients = ["pat-\(n)"]
        return AuditInput(
            time: 1_736_935_200 + Double(n) / 1000, outcome: .success, subject: .fhir(search),
            request: AuditHTTPRequest(
                method: "GET", path: "/fhir/MedicationDispense", query: "patient=pat-\(n)&_count=50",
                host: "gw.example.org"),
            client: AuditClient(
                id: "pdmp-client-\(n % 50)", name: "Clinic \(n % 50)", issuer: "https://gw.example.org"),
            peerAddress: "203.0.113.\(n % 250)", requestID: RandomID.uuid(),
            decision: AuditDecision(permitted: true, rule: "own-patients", reason: "patient in panel"),
            tokenJTI: RandomID.hex128(), purposeOfUse: [AuditCoding(system: "urn:v3-ActReason", code: "TREAT")],
            responsePatients: [.id("pat-\(n)"), .identifier(system: "urn:state-pdmp:patient", value: "S\(n)")])
    }
}
