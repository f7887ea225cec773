// Client-assertion replay protection (SMART 2.2 backend-services: reject a `jti` already seen for the same
// `iss`; RFC 7523 §3 item 7). Keyed on (issuer, jti), never on the token text (rule 0.2), and kept until the
// assertion's expiry plus leeway. The store fails closed: when it cannot answer, no token is issued (503).

import Synchronization

/// The answer of a replay store.
public enum ReplayResult: Sendable, Equatable {
    /// First use: the (issuer, jti) pair is now recorded.
    case fresh
    /// Already recorded and not yet expired.
    case replayed
    /// The store cannot answer (full, unreachable); callers must refuse.
    case unavailable
}

/// Records (issuer, jti) pairs until they expire. Implementations must be thread-safe.
public protocol ReplayCache: Sendable {
    /// Atomically records the pair if it is new; `expiresAt` is seconds since the epoch.
    func claim(issuer: String, jti: String, expiresAt: Double) -> ReplayResult
}

/// An in-memory replay cache for one gateway instance, bounded in entries.
///
/// - Note: a restart forgets every entry: the gateway wraps it in the durable jti file
///   (`DurableReplayCache`) for one instance, and several instances use `RedisReplayCache` (TOK-01 d).
public final class InMemoryReplayCache: ReplayCache {
    private struct Key: Hashable {
        let issuer: String
        let jti: String
    }

    private struct State {
        var entries: [Key: Double] = [:]
    }

    private let capacity: Int
    private let clock: @Sendable () -> Double
    private let state = Mutex(State())

    /// - Parameters:
    ///   - capacity: the most pairs held at once; beyond it, with nothing expired, the cache is `unavailable`.
    ///   - clock: "now" for expiry of old entries.
    public init(capacity: Int = 100_000, clock: @escaping @Sendable () -> Double) {
        self.capacity = capacity
        self.clock = clock
    }

    public func claim(issuer: String, jti: String, expiresAt: Double) -> ReplayResult {
        let key = Key(issuer: issuer, jti: jti)
        let now = clock()
        return state.withLock { state in
            if let until = state.entries[key], until > now { return .replayed }
            if state.entries.count >= capacity {
                state.entries = state.entries.filter { $0.value > now }
                // Refuse rather than forget a live entry: forgetting would re-open replay.
                if state.entries.count >= capacity { return .unavailable }
            }
            state.entries[key] = expiresAt
            return .fresh
        }
    }

    /// The number of entries held (for metrics and tests).
    public var count: Int { state.withLock { $0.entries.count } }
}
