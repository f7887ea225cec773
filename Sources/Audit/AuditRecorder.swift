// The pipeline's entry point to auditing (ARCHITECTURE §1 step 6): build the event, hand it to the sink,
// release the response from the completion. Plus an in-memory sink for tests of code that audits.

public import GatewayCore
import GatewayCrypto
import Synchronization

/// Builds the AuditEvent for a decision and records it durably.
public struct AuditRecorder: Sendable {
    /// Builds the events.
    public let builder: AuditEventBuilder
    /// Records them.
    public let sink: any AuditSink

    /// Creates a recorder writing `builder`'s events to `sink`.
    public init(builder: AuditEventBuilder, sink: any AuditSink) {
        self.builder = builder
        self.sink = sink
    }

    /// Builds the event for `input` (on the calling thread) and appends it; `completion` runs once it is
    /// durable or has failed. Answer the request only from the completion: on `.failure` with 503 (the error
    /// is an `HTTPResponseError`), never without a record.
    public func record(
        _ input: AuditInput, completion: @escaping @Sendable (Result<AuditReceipt, AuditError>) -> Void
    ) {
        sink.append(canonicalEvent: builder.canonicalEvent(input), completion: completion)
    }
}

/// A sink that keeps events in memory and completes at once, for tests of code that audits. It can be made
/// to fail like an unwritable directory.
public final class InMemoryAuditSink: AuditSink {
    private struct State {
        var events: [JSONValue] = []
        var failing = false
    }

    private let state = Mutex(State())

    /// Creates an empty sink.
    public init() {}

    /// The events recorded so far, in order.
    public var events: [JSONValue] { state.withLock { $0.events } }

    /// When true, appends fail with `.unavailable` and record nothing.
    public var failing: Bool {
        get { state.withLock { $0.failing } }
        set { state.withLock { $0.failing = newValue } }
    }

    /// Keeps the event (parsed back into a tree) and completes at once (or fails when ``failing``).
    public func append(
        canonicalEvent: [UInt8], completion: @escaping @Sendable (Result<AuditReceipt, AuditError>) -> Void
    ) {
        let result = state.withLock { state -> Result<AuditReceipt, AuditError> in
            if state.failing { return .failure(AuditError(.unavailable, detail: "in-memory sink set to fail")) }
            guard let event = try? JSONValue.parse(canonicalEvent) else {
                return .failure(AuditError(.unavailable, detail: "in-memory sink got bytes that are not JSON"))
            }
            state.events.append(event)
            let hash = Digest.hex(Digest.sha256(canonicalEvent))
            return .success(AuditReceipt(seq: UInt64(state.events.count), hash: hash, file: "memory"))
        }
        completion(result)
    }
}
