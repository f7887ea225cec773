// A small pool of blocking hiredis connections for the synchronous shared-state protocols (ReplayCache,
// RateLimiter, RevocationList are called from the event loops and answer at once).
//
// Bounded blocking (issue #8): a caller on an event loop only ever takes an idle, already-connected
// connection; it never connects. Each socket read or write is bounded by `deadlineMs` (default 50 ms,
// `redisSetTimeout`), so a slow or silent Redis holds a loop for at most the deadline per socket
// operation of one pipelined batch (normally one write and one read). A connection that timed out or
// failed is closed, and with it every idle connection (they most likely share the fault); the background
// worker reconnects with exponential backoff (50 ms doubling to `maxBackoffMs`) off the loops, and lends
// a new connection only after it answered a PING, so that a stalled Redis costs the loops one deadline per
// stall, not one per reconnection.
// TODO(#8): hiredis's async API attached to the event loops would remove even this bounded blocking.

import Dispatch
public import GatewayCore
import Synchronization

/// Pool and timeout settings.
public struct RedisClientOptions: Sendable {
    /// Most time one socket operation may take on a caller's thread. Default 50 ms.
    public var deadlineMs: Int = 50
    /// TCP connect timeout, used by the background worker only. Default 500 ms.
    public var connectTimeoutMs: Int = 500
    /// Connections kept open. Callers never wait for one: with none idle, the call is `unavailable`, so
    /// this should be at least the number of event loops plus one. Default 4.
    public var connections: Int = 4
    /// Longest wait between reconnection attempts. Default 1 s.
    public var maxBackoffMs: Int = 1_000

    public init(deadlineMs: Int = 50, connectTimeoutMs: Int = 500, connections: Int = 4, maxBackoffMs: Int = 1_000) {
        self.deadlineMs = deadlineMs
        self.connectTimeoutMs = connectTimeoutMs
        self.connections = connections
        self.maxBackoffMs = maxBackoffMs
    }
}

/// Whether the shared store answers.
public enum SharedStateStatus: Sendable, Equatable {
    case available
    case unavailable(String)
}

/// A thread-safe pool of Redis connections with reconnection and bounded calls.
public final class RedisClient: Sendable {
    public let endpoint: RedisEndpoint
    public let options: RedisClientOptions

    private struct Idle {
        let connection: RedisConnection
        let generation: Int
    }

    private struct Pool {
        var idle: [Idle] = []
        /// Connections open or being opened (idle, lent out, connecting).
        var open = 0
        /// Bumped on every failure: connections from an older generation are closed when returned.
        var generation = 0
        var backoffMs = 0
        var nextAttempt: UInt64 = 0
        var status = SharedStateStatus.unavailable("not connected yet")
    }

    // The pool lock is held only to move connections in and out, never across a network call.
    private let pool = Mutex(Pool())
    private let metrics: Metrics

    struct Metrics: Sendable {
        let up: Gauge
        let idle: Gauge
        let failures: Counter
        let exhausted: Counter
        let duration: Histogram

        init(_ registry: MetricsRegistry) {
            up = registry.gauge("gateway_shared_state_up", help: "1 when the Redis shared state answers, else 0")
            idle = registry.gauge("gateway_shared_state_idle_connections", help: "Idle Redis connections in the pool")
            failures = registry.counter(
                "gateway_shared_state_failures_total", help: "Redis calls or connection attempts that failed or timed out")
            exhausted = registry.counter(
                "gateway_shared_state_pool_exhausted_total", help: "Redis calls refused because no connection was idle")
            duration = registry.histogram(
                "gateway_shared_state_call_duration_seconds", help: "Time of one pipelined Redis call on the caller's thread")
        }
    }

    /// Creates the pool without connecting; `maintain()` opens the connections.
    public init(endpoint: RedisEndpoint, options: RedisClientOptions = RedisClientOptions(), metrics: MetricsRegistry) {
        self.endpoint = endpoint
        self.options = options
        self.metrics = Metrics(metrics)
    }

    /// The state of the last call or connection attempt.
    public var status: SharedStateStatus { pool.withLock { $0.status } }

    /// Runs `commands` as one pipeline on an idle connection. Never connects and never waits for a
    /// connection; blocks at most `deadlineMs` per socket operation.
    public func execute(_ commands: [[String]]) -> Result<[RedisReply], RedisFailure> {
        let lent = pool.withLock { pool -> Idle? in
            let idle = pool.idle.popLast()
            metrics.idle.set(Int64(pool.idle.count))
            return idle
        }
        guard let lent else {
            metrics.exhausted.increment()
            let reason = switch status {
            case .available: "no idle Redis connection"
            case .unavailable(let reason): reason
            }
            return .failure(RedisFailure(reason))
        }
        let started = DispatchTime.now().uptimeNanoseconds
        let result = Result { () throws(RedisFailure) in try lent.connection.pipeline(commands) }
        metrics.duration.observe(Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
        switch result {
        case .success:
            giveBack(lent)
        case .failure(let failure):
            failed(lent, failure)
        }
        return result
    }

    private func giveBack(_ lent: Idle) {
        let discarded: RedisConnection? = pool.withLock { pool in
            guard lent.generation == pool.generation else {
                pool.open -= 1
                return lent.connection
            }
            pool.idle.append(lent)
            pool.status = .available
            metrics.up.set(1)
            metrics.idle.set(Int64(pool.idle.count))
            return nil
        }
        _ = discarded  // closed here, outside the lock
    }

    private func failed(_ lent: Idle, _ failure: RedisFailure) {
        metrics.failures.increment()
        // The connection is out of step with the server; the idle ones most likely share its fault.
        let discarded = pool.withLock { pool -> [Idle] in
            let dropped = pool.idle
            pool.idle = []
            pool.open -= dropped.count + 1
            if lent.generation == pool.generation { pool.generation += 1 }
            pool.status = .unavailable(failure.reason)
            metrics.up.set(0)
            metrics.idle.set(0)
            return dropped
        }
        _ = discarded
    }

    /// Opens connections until the pool is full, respecting the reconnection backoff. Blocking (up to the
    /// connect timeout per attempt): call it from the background worker, never from an event loop.
    public func maintain() {
        while true {
            let now = DispatchTime.now().uptimeNanoseconds
            let go = pool.withLock { pool -> Bool in
                guard pool.open < options.connections, now >= pool.nextAttempt else { return false }
                pool.open += 1
                return true
            }
            guard go else { return }
            do throws(RedisFailure) {
                let connection = try RedisConnection(endpoint: endpoint, timeoutMs: options.connectTimeoutMs)
                // A stalled server (a long command, a fork, DEBUG SLEEP) still accepts TCP connections: the
                // kernel completes them. Without this round trip every reconnection lent a dead connection
                // to the next caller, which then waited out its deadline on an event loop (32 such calls
                // in a 5 s stall, MultiInstanceFaultTests); the PING finds it here, off the loops. An error
                // answer (-LOADING while Redis reads its append-only file) counts as not ready.
                for case .error(let message) in try connection.pipeline([["PING"]]) {
                    throw RedisFailure("PING: \(message)")
                }
                // The connect timeout also became the socket timeout; callers get the shorter deadline.
                try connection.setTimeout(milliseconds: options.deadlineMs)
                pool.withLock { pool in
                    pool.idle.append(Idle(connection: connection, generation: pool.generation))
                    pool.backoffMs = 0
                    pool.status = .available
                    metrics.up.set(1)
                    metrics.idle.set(Int64(pool.idle.count))
                }
            } catch {
                metrics.failures.increment()
                pool.withLock { pool in
                    pool.open -= 1
                    pool.backoffMs = min(max(pool.backoffMs * 2, 50), options.maxBackoffMs)
                    pool.nextAttempt = DispatchTime.now().uptimeNanoseconds + UInt64(pool.backoffMs) * 1_000_000
                    pool.status = .unavailable(error.reason)
                    metrics.up.set(0)
                }
                return
            }
        }
    }

    /// Closes every idle connection (shutdown); lent ones close when returned.
    public func close() {
        let dropped = pool.withLock { pool -> [Idle] in
            let dropped = pool.idle
            pool.idle = []
            pool.open -= dropped.count
            pool.generation += 1
            pool.nextAttempt = .max
            pool.status = .unavailable("closed")
            return dropped
        }
        _ = dropped
    }
}
