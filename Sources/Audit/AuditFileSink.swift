// The embedded audit sink (issue #7 §2): hash-chained NDJSON files, written by one dedicated thread with
// group commit (collect, write, fdatasync, then complete every record's callback), rotated by size and age
// with the chain continuing across files, resumed at start-up with a torn tail sealed, failing closed.

import Foundation
public import GatewayCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Anything that durably records AuditEvents.
public protocol AuditSink: Sendable {
    /// Records `event`; `completion` runs once the record is durable (or has failed). Thread-safe.
    func append(_ event: JSONValue, completion: @escaping @Sendable (Result<AuditReceipt, AuditError>) -> Void)
}

/// Proof that a record is durable: where it is in the chain.
public struct AuditReceipt: Sendable, Hashable {
    /// The record's position in the chain.
    public var seq: UInt64
    /// The record hash (and the AuditEvent id when shipped).
    public var hash: String
    /// The file name (inside the audit directory) that holds the record.
    public var file: String

    /// Creates a receipt (sinks other than the file sink make their own).
    public init(seq: UInt64, hash: String, file: String) {
        self.seq = seq
        self.hash = hash
        self.file = file
    }
}

/// What start-up found in the audit directory.
public struct AuditResumeReport: Sendable, Hashable {
    /// A torn last line that was cut away and sealed with a `tail-repair` record.
    public struct TornTail: Sendable, Hashable {
        /// The chain file the bytes were cut from.
        public var file: String
        /// Where the torn bytes began (the end of the last valid record).
        public var offset: Int
        /// The number of torn bytes.
        public var length: Int
        /// SHA-256 (hex) of the torn bytes.
        public var sha256: String
        /// The side file (in the audit directory) that keeps the torn bytes.
        public var savedAs: String
    }

    /// The last valid record found (0 and the genesis hash for an empty directory).
    public var lastSeq: UInt64
    /// The hash of that record.
    public var lastHash: String
    /// The file appends continue in.
    public var file: String
    /// The torn tail that was sealed, if there was one.
    public var tornTail: TornTail?
}

/// The durable file sink. See docs/audit.md.
///
/// Completions run on the sink's writer thread: hop back to your event loop before touching its state, and
/// never block in them.
public final class AuditFileSink: AuditSink, @unchecked Sendable {
    // @unchecked Sendable: `shared` is guarded by `condition`; `writer` state is confined to the writer thread
    // (and to `init`, before that thread starts); the rest is immutable or atomic.

    /// Where and how records are written.
    public struct Configuration: Sendable {
        /// The audit directory (created if missing).
        public var directory: String
        /// File names are `<filePrefix>-<first seq>.ndjson`.
        public var filePrefix: String
        /// Rotate before a file would exceed this many bytes (a single larger record still gets a file).
        public var maxFileBytes: Int
        /// Rotate a file this many seconds after this process opened it; nil for size-only rotation.
        public var maxFileAge: Double?
        /// At most this many records per write + fdatasync.
        public var maxBatch: Int
        /// How long the writer waits for more records before committing a batch that is not full (seconds).
        /// Larger values mean fewer fsyncs under load and more latency per request.
        public var commitDelay: Double
        /// After a write failure, how often to try to reopen the directory (seconds); appends in between fail
        /// at once with `.unavailable`.
        public var retryInterval: Double
        /// The gateway instance id, used as the observer of the sink's own `tail-repair` events.
        public var instanceID: String

        /// Creates a configuration; only the directory has no default.
        public init(
            directory: String, filePrefix: String = "audit", maxFileBytes: Int = 64 << 20,
            maxFileAge: Double? = 86_400, maxBatch: Int = 4096, commitDelay: Double = 0.001,
            retryInterval: Double = 1, instanceID: String = "pdmp-gateway"
        ) {
            self.directory = directory
            self.filePrefix = filePrefix
            self.maxFileBytes = maxFileBytes
            self.maxFileAge = maxFileAge
            self.maxBatch = maxBatch
            self.commitDelay = commitDelay
            self.retryInterval = retryInterval
            self.instanceID = instanceID
        }
    }

    struct Pending {
        var event: [UInt8]
        var completion: @Sendable (Result<AuditReceipt, AuditError>) -> Void
    }

    struct Shared {
        var pending: [Pending] = []
        var stopping = false
        var stopped = false
        var writerWaiting = false
    }

    /// Writer-thread state: the open file and the chain head.
    struct WriterState {
        var fd: Int32 = -1
        var file = ""
        var fileBytes = 0
        var openedAt = 0.0
        var lastSeq: UInt64 = 0
        var lastHash = AuditRecord.genesisHash
        var healthy = false
        var failure = ""
        var lastAttempt = -Double.infinity
    }

    /// The configuration the sink was opened with.
    public let configuration: Configuration
    let clock: any Clock
    let logger: Logger
    let metrics: AuditMetrics
    let condition = NSCondition()
    var shared = Shared()
    var writer = WriterState()
    let durable = Atomic<UInt64>(0)
    let resume = Mutex<AuditResumeReport?>(nil)
    private var thread: Thread?

    /// Opens (or creates) the audit directory, resumes the chain, seals a torn tail and starts the writer.
    ///
    /// Never throws: when the directory cannot be written the sink starts unavailable (every append fails
    /// with `.unavailable`, `gateway_audit_sink_available` is 0) and retries on later appends.
    /// - Warning: blocking file I/O; call at start-up, not on an event loop.
    public init(
        configuration: Configuration, clock: any Clock = SystemClock(), metrics: MetricsRegistry = .shared,
        logger: Logger = .disabled
    ) {
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        self.metrics = AuditMetrics(metrics)
        attemptResume()
        let thread = Thread { [self] in self.runWriter() }
        thread.name = "audit-writer"
        self.thread = thread
        thread.start()
    }

    /// The report of the last successful start-up resume (nil until one succeeded).
    public var resumeReport: AuditResumeReport? { resume.withLock { $0 } }

    /// The highest seq known to be durable (0 when none).
    public var durableSeq: UInt64 { durable.load(ordering: .acquiring) }

    /// True while appends can succeed.
    public var isAvailable: Bool { metrics.available.current == 1 }

    /// Records `event` (see ``AuditSink``). Its canonical form is computed on the caller's thread.
    public func append(
        _ event: JSONValue, completion: @escaping @Sendable (Result<AuditReceipt, AuditError>) -> Void
    ) {
        append(canonicalEvent: CanonicalJSON.serialize(event), completion: completion)
    }

    /// Records an event already in canonical form (the benchmark uses it to time the sink alone).
    func append(
        canonicalEvent bytes: [UInt8], completion: @escaping @Sendable (Result<AuditReceipt, AuditError>) -> Void
    ) {
        condition.lock()
        if shared.stopping {
            condition.unlock()
            completion(.failure(.stopped))
            return
        }
        shared.pending.append(Pending(event: bytes, completion: completion))
        let count = shared.pending.count
        // Wake the writer for the first record, or when a lingering batch is full.
        if shared.writerWaiting && (count == 1 || count >= configuration.maxBatch) { condition.signal() }
        condition.unlock()
    }

    /// Records `event` and waits until it is durable.
    /// - Warning: blocks the calling thread for an fsync; for tools and tests, never an event loop.
    public func appendAndWait(_ event: JSONValue) -> Result<AuditReceipt, AuditError> {
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<Result<AuditReceipt, AuditError>>(.failure(.stopped))
        append(event) { outcome in
            result.withLock { $0 = outcome }
            done.signal()
        }
        done.wait()
        return result.withLock { $0 }
    }

    /// Commits what is pending, fails later appends with `.stopped`, closes the file and ends the writer.
    /// - Warning: blocks until the writer has finished.
    public func stop() {
        condition.lock()
        shared.stopping = true
        condition.signal()
        while !shared.stopped { condition.wait() }
        condition.unlock()
    }

    deinit {
        if writer.fd >= 0 { close(writer.fd) }
    }

    // MARK: - Writer thread

    private func runWriter() {
        while let batch = nextBatch() {
            commit(batch)
        }
        if writer.fd >= 0 {
            close(writer.fd)
            writer.fd = -1
        }
        condition.lock()
        shared.stopped = true
        condition.broadcast()
        condition.unlock()
    }

    /// Waits for records, lingers up to `commitDelay` for more, and takes up to `maxBatch`; nil at shutdown.
    private func nextBatch() -> [Pending]? {
        condition.lock()
        defer { condition.unlock() }
        while shared.pending.isEmpty && !shared.stopping {
            shared.writerWaiting = true
            condition.wait()
            shared.writerWaiting = false
        }
        if shared.pending.isEmpty { return nil }
        if configuration.commitDelay > 0 && shared.pending.count < configuration.maxBatch && !shared.stopping {
            shared.writerWaiting = true
            _ = condition.wait(until: Date(timeIntervalSinceNow: configuration.commitDelay))
            shared.writerWaiting = false
        }
        let take = min(shared.pending.count, configuration.maxBatch)
        let batch = Array(shared.pending.prefix(take))
        shared.pending.removeFirst(take)
        return batch
    }

    /// Writes a batch, rotating where needed; each file's segment is written and fdatasync'ed before its
    /// records complete. On failure the rest of the batch fails with `.unavailable`.
    private func commit(_ batch: [Pending]) {
        guard ensureHealthy() else { return fail(batch[...]) }
        if shouldRotateByAge() { rotate() }
        var index = 0
        while index < batch.count {
            guard writer.healthy else { return fail(batch[index...]) }
            if writer.fd < 0 || wouldOverflow(batch[index].event.count) { rotate() }
            guard writer.healthy else { return fail(batch[index...]) }
            let end = segmentEnd(batch, from: index)
            guard let receipts = writeSegment(batch[index..<end]) else { return fail(batch[index...]) }
            for (pending, receipt) in zip(batch[index..<end], receipts) { pending.completion(.success(receipt)) }
            index = end
        }
    }

    /// The end of the run of records from `start` that fits in the current file (at least one record).
    private func segmentEnd(_ batch: [Pending], from start: Int) -> Int {
        var bytes = writer.fileBytes
        var end = start
        while end < batch.count {
            let size = batch[end].event.count + 200
            if end > start && bytes + size > configuration.maxFileBytes { break }
            bytes += size
            end += 1
        }
        return end
    }

    private func wouldOverflow(_ eventBytes: Int) -> Bool {
        writer.fileBytes > 0 && writer.fileBytes + eventBytes + 200 > configuration.maxFileBytes
    }

    private func shouldRotateByAge() -> Bool {
        guard let maxAge = configuration.maxFileAge, writer.fd >= 0, writer.fileBytes > 0 else { return false }
        return clock.now() - writer.openedAt >= maxAge
    }

    /// Chains, writes and syncs records into the current file; nil (chain head unchanged) on failure.
    func writeSegment(_ segment: ArraySlice<Pending>) -> [AuditReceipt]? {
        var buffer = [UInt8]()
        buffer.reserveCapacity(segment.reduce(0) { $0 + $1.event.count + 200 })
        var seq = writer.lastSeq
        var prev = writer.lastHash
        var receipts: [AuditReceipt] = []
        receipts.reserveCapacity(segment.count)
        for pending in segment {
            seq += 1
            let hash = RecordCodec.hash(seq: seq, prev: prev, event: pending.event)
            RecordCodec.appendLine(seq: seq, prev: prev, hash: hash, event: pending.event, to: &buffer)
            receipts.append(AuditReceipt(seq: seq, hash: hash, file: writer.file))
            prev = hash
        }
        do {
            try FileIO.write(writer.fd, buffer, path: writer.file)
            let started = monotonicNanos()
            try FileIO.syncData(writer.fd, path: writer.file)
            metrics.fsyncSeconds.observe(Double(monotonicNanos() - started) / 1e9)
        } catch {
            markFailed(error, rollbackTo: writer.fileBytes)
            return nil
        }
        writer.fileBytes += buffer.count
        writer.lastSeq = seq
        writer.lastHash = prev
        durable.store(seq, ordering: .releasing)
        metrics.records.increment(by: UInt64(segment.count))
        return receipts
    }

    private func fail(_ records: ArraySlice<Pending>) {
        metrics.writeFailures.increment(by: UInt64(records.count))
        let error = AuditError(.unavailable, detail: writer.failure)
        for pending in records { pending.completion(.failure(error)) }
    }

    /// Closes the current file (its records are already durable) and starts `<prefix>-<next seq>.ndjson`.
    private func rotate() {
        let name = ChainFiles.name(prefix: configuration.filePrefix, firstSeq: writer.lastSeq + 1)
        let path = FileIO.join(configuration.directory, name)
        do {
            let fd = try FileIO.openForAppend(path, create: true)
            if writer.fd >= 0 { close(writer.fd) }
            writer.fd = fd
            writer.file = name
            writer.fileBytes = 0
            writer.openedAt = clock.now()
            try FileIO.syncDirectory(configuration.directory)
        } catch {
            markFailed(error, rollbackTo: nil)
        }
    }

    /// Records the failure, undoes a partial write where possible, and closes the file so that the next
    /// attempt goes through the full resume (which seals whatever torn bytes remain).
    func markFailed(_ error: any Error, rollbackTo length: Int?) {
        if let length, writer.fd >= 0 { try? FileIO.truncate(writer.fd, to: length, path: writer.file) }
        if writer.fd >= 0 { close(writer.fd) }
        writer.fd = -1
        writer.healthy = false
        writer.failure = "\(error)"
        writer.lastAttempt = clock.now()
        metrics.available.set(0)
        logger.error("audit sink unavailable", metadata: ["audit.error": "\(error)"])
    }

    /// True when the sink can write; otherwise retries the resume at most once per `retryInterval`.
    private func ensureHealthy() -> Bool {
        if writer.healthy { return true }
        guard clock.now() - writer.lastAttempt >= configuration.retryInterval else { return false }
        attemptResume()
        return writer.healthy
    }
}

/// The sink's metric handles (issue #7 §4).
struct AuditMetrics: Sendable {
    let records: Counter
    let fsyncSeconds: Histogram
    let writeFailures: Counter
    let backlog: Gauge
    let available: Gauge
    let shipFailures: Counter

    init(_ registry: MetricsRegistry) {
        records = registry.counter("gateway_audit_records_total", help: "Audit records made durable.")
        fsyncSeconds = registry.histogram(
            "gateway_audit_fsync_seconds", help: "Time of one fdatasync of an audit batch.",
            buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1])
        writeFailures = registry.counter(
            "gateway_audit_write_failures_total", help: "Audit records that could not be written (answered 503).")
        backlog = registry.gauge("gateway_audit_spool_backlog", help: "Durable audit records not yet shipped.")
        available = registry.gauge("gateway_audit_sink_available", help: "1 when the audit sink can write, else 0.")
        shipFailures = registry.counter(
            "gateway_audit_ship_failures_total",
            help: "Audit Bundle POSTs that failed (connection, non-2xx or a rejected entry) and are retried.")
    }
}
