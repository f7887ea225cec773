// Shipping to an Audit Record Repository (issue #7 §3). The spool is the chain files themselves plus a
// cursor file; a dedicated thread reads durable records after the cursor, PUTs them in FHIR `batch` Bundles
// (AuditEvent id = record hash, so redelivery overwrites instead of duplicating), retries with exponential
// backoff and advances the cursor only after the repository accepted every entry. Appends never wait for it.

import Foundation
public import GatewayCore
import Synchronization

/// The repository's answer to one Bundle POST.
public struct AuditTransportResponse: Sendable, Hashable {
    /// The HTTP status.
    public var status: Int
    /// The response body (a `batch-response` Bundle), possibly empty.
    public var body: [UInt8]

    /// Creates a response.
    public init(status: Int, body: [UInt8]) {
        self.status = status
        self.body = body
    }
}

/// Sends Bundles to the audit repository; the integrator provides the HTTP implementation.
public protocol AuditTransport: Sendable {
    /// POSTs `bundle` (a FHIR R4 `batch` Bundle, `application/fhir+json`) to the repository's base URL and
    /// calls `completion` once, from any thread, with the response or the transport error.
    func post(bundle: [UInt8], completion: @escaping @Sendable (Result<AuditTransportResponse, any Error>) -> Void)
}

/// Ships durable records from the audit directory to an `AuditTransport`.
///
/// Chain files stay in the directory after shipping (TODO(#7): retention of shipped files).
public final class AuditShipper: @unchecked Sendable {
    // @unchecked Sendable: `cursor` and the backoff state are confined to the shipper thread; `control` is
    // guarded by `condition`; `shipped` is atomic; the rest is immutable.

    /// Where the spool is and how to ship it.
    public struct Configuration: Sendable {
        /// The audit directory and chain file prefix (as configured for the sink).
        public var directory: String
        /// The chain file prefix (as configured for the sink).
        public var filePrefix: String
        /// The cursor file (default `<directory>/ship-cursor.json`).
        public var cursorPath: String
        /// Records per Bundle.
        public var batchSize: Int
        /// First retry delay after a failed POST (seconds); doubles per failure up to `maxBackoff`.
        public var initialBackoff: Double
        /// The longest retry delay (seconds).
        public var maxBackoff: Double
        /// How often to look for new durable records when idle (seconds).
        public var pollInterval: Double
        /// A POST without an answer after this many seconds counts as failed.
        public var requestTimeout: Double

        /// Creates a configuration for `directory`.
        public init(
            directory: String, filePrefix: String = "audit", cursorPath: String? = nil, batchSize: Int = 200,
            initialBackoff: Double = 0.5, maxBackoff: Double = 60, pollInterval: Double = 0.25,
            requestTimeout: Double = 30
        ) {
            self.directory = directory
            self.filePrefix = filePrefix
            self.cursorPath = cursorPath ?? FileIO.join(directory, "ship-cursor.json")
            self.batchSize = batchSize
            self.initialBackoff = initialBackoff
            self.maxBackoff = maxBackoff
            self.pollInterval = pollInterval
            self.requestTimeout = requestTimeout
        }
    }

    /// Where shipping stands: the last shipped record and the byte position after it.
    struct Cursor: Equatable {
        var seq: UInt64 = 0
        var hash: String = AuditRecord.genesisHash
        var file: String?
        var offset = 0
    }

    /// The configuration the shipper runs with.
    public let configuration: Configuration
    let transport: any AuditTransport
    let durableSeq: @Sendable () -> UInt64
    let logger: Logger
    let backlog: Gauge
    let failures: Counter
    let shipped = Atomic<UInt64>(0)
    let condition = NSCondition()
    var stopping = false
    var running = false
    var cursor = Cursor()
    private let finished = DispatchSemaphore(value: 0)

    /// A shipper for the records of `directory` up to `durableSeq()` (the sink's durable watermark).
    public init(
        configuration: Configuration, transport: any AuditTransport, durableSeq: @escaping @Sendable () -> UInt64,
        metrics: MetricsRegistry = .shared, logger: Logger = .disabled
    ) {
        self.configuration = configuration
        self.transport = transport
        self.durableSeq = durableSeq
        self.logger = logger
        let handles = AuditMetrics(metrics)
        self.backlog = handles.backlog
        self.failures = handles.shipFailures
        self.cursor = Self.loadCursor(configuration.cursorPath)
        shipped.store(cursor.seq, ordering: .relaxed)
    }

    /// A shipper for `sink`'s directory, shipping what the sink has made durable.
    public convenience init(
        sink: AuditFileSink, transport: any AuditTransport, batchSize: Int = 200, initialBackoff: Double = 0.5,
        maxBackoff: Double = 60, metrics: MetricsRegistry = .shared, logger: Logger = .disabled
    ) {
        let configuration = Configuration(
            directory: sink.configuration.directory, filePrefix: sink.configuration.filePrefix, batchSize: batchSize,
            initialBackoff: initialBackoff, maxBackoff: maxBackoff)
        self.init(
            configuration: configuration, transport: transport, durableSeq: { sink.durableSeq }, metrics: metrics,
            logger: logger)
    }

    /// The seq of the last record the repository accepted.
    public var shippedSeq: UInt64 { shipped.load(ordering: .relaxed) }

    /// Starts the shipper thread (once).
    public func start() {
        condition.lock()
        defer { condition.unlock() }
        guard !running else { return }
        running = true
        let thread = Thread { [self] in
            self.run()
            self.finished.signal()
        }
        thread.name = "audit-shipper"
        thread.start()
    }

    /// Stops the shipper thread after the POST in flight (if any) ends; the cursor keeps its last value.
    public func stop() {
        condition.lock()
        let wasRunning = running
        stopping = true
        condition.broadcast()
        condition.unlock()
        if wasRunning { finished.wait() }
    }

    // MARK: - Shipper thread

    private func run() {
        while !isStopping {
            let watermark = durableSeq()
            refreshBacklog()
            guard watermark > cursor.seq, let batch = readBatch(upTo: watermark), !batch.records.isEmpty else {
                pause(configuration.pollInterval)
                continue
            }
            guard deliver(batch.records) else { return }
            cursor = batch.next
            saveCursor()
            shipped.store(cursor.seq, ordering: .relaxed)
            refreshBacklog()
        }
    }

    /// `gateway_audit_spool_backlog`: durable records not yet accepted by the repository.
    private func refreshBacklog() {
        backlog.set(Int64(durableSeq()) - Int64(shipped.load(ordering: .relaxed)))
    }

    /// Posts the records until the repository accepts them all; false when stopped first.
    private func deliver(_ records: [AuditRecord]) -> Bool {
        let bundle = Self.bundle(records)
        var backoff = configuration.initialBackoff
        while !isStopping {
            switch post(bundle) {
            case .success(let response):
                if let problem = Self.problem(in: response, expected: records.count) {
                    logger.warning("audit shipping rejected", metadata: ["audit.problem": problem])
                } else {
                    return true
                }
            case .failure(let error):
                logger.warning("audit shipping failed", metadata: ["audit.error": "\(error)"])
            }
            failures.increment()
            pause(backoff)
            backoff = min(backoff * 2, configuration.maxBackoff)
        }
        return false
    }

    /// One POST, waited for up to `requestTimeout`.
    private func post(_ bundle: [UInt8]) -> Result<AuditTransportResponse, any Error> {
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<Result<AuditTransportResponse, any Error>?>(nil)
        transport.post(bundle: bundle) { outcome in
            result.withLock { if $0 == nil { $0 = outcome } }
            done.signal()
        }
        // Wait in short slices so that stop() is not held up by a repository that never answers.
        let deadline = Date(timeIntervalSinceNow: configuration.requestTimeout)
        while done.wait(timeout: .now() + 0.1) == .timedOut {
            refreshBacklog()
            if isStopping || Date() >= deadline {
                return .failure(GatewayError(status: 504, issueType: .timeout, "audit repository timed out"))
            }
        }
        return result.withLock { $0 } ?? .failure(GatewayError(status: 502, issueType: .exception, "no answer"))
    }

    private var isStopping: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopping
    }

    /// Sleeps up to `seconds`, waking early on `stop()`.
    private func pause(_ seconds: Double) {
        refreshBacklog()
        condition.lock()
        if !stopping { _ = condition.wait(until: Date(timeIntervalSinceNow: seconds)) }
        condition.unlock()
    }
}
