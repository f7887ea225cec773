// The shared state of a gateway instance (ARCHITECTURE §2 `SharedState`): the assertion replay cache, the
// quota counters and the revocation list, either in this process (`memory`, one instance) or in Redis
// (several instances). With Redis, a background worker thread keeps the connection pool filled
// (reconnecting with backoff) and refreshes the revocation table every 250 ms; the request path only
// borrows connected sockets, bounded by the deadline (see RedisClient).
//
// Redis unreachable (documented in docs/operations.md): the token endpoint answers 503 (it cannot prove an
// assertion's `jti` is fresh), requests under a quota answer 503, revocation uses the last-known list,
// everything else keeps working, and `/readyz` fails until Redis answers again.

import Dispatch
import Foundation
public import GatewayCore
public import SMART
import Synchronization

/// The replay cache, rate limiter and revocation list of one gateway process.
public final class SharedStores: Sendable {
    /// Namespace of every Redis key.
    public static let defaultPrefix = "pdmp-gateway:"

    public let replay: any ReplayCache
    public let rateLimiter: any RateLimiter
    public let revocations: any RevocationStore
    /// `memory`, or the Redis URL without its password.
    public let backend: String
    private let redis: RedisClient?
    private let worker: PeriodicWorker?

    private init(
        replay: any ReplayCache, rateLimiter: any RateLimiter, revocations: any RevocationStore, backend: String,
        redis: RedisClient?, worker: PeriodicWorker?
    ) {
        self.replay = replay
        self.rateLimiter = rateLimiter
        self.revocations = revocations
        self.backend = backend
        self.redis = redis
        self.worker = worker
    }

    /// In-process state for a single instance.
    public static func memory(clock: @escaping @Sendable () -> Double) -> SharedStores {
        SharedStores(
            replay: InMemoryReplayCache(clock: clock), rateLimiter: InMemoryRateLimiter(),
            revocations: InMemoryRevocationList(clock: clock), backend: "memory", redis: nil, worker: nil)
    }

    /// Redis-backed state. Does not require Redis to be up: the first connections are attempted here
    /// (bounded by the connect timeout) and then by the worker until they succeed.
    /// - Parameters:
    ///   - url: `redis://[:password@]host[:port][/db]`.
    ///   - refreshIntervalMs: how often the worker reconnects and refreshes revocations (≤ 1 s keeps the
    ///     propagation promise).
    public static func redis(
        url: String, options: RedisClientOptions = RedisClientOptions(), refreshIntervalMs: Int = 250,
        prefix: String = defaultPrefix, clock: @escaping @Sendable () -> Double, metrics: MetricsRegistry,
        logger: Logger
    ) throws(RedisFailure) -> SharedStores {
        let endpoint = try RedisEndpoint(url: url)
        let client = RedisClient(endpoint: endpoint, options: options, metrics: metrics)
        let revocations = RedisRevocationList(client: client, prefix: prefix, clock: clock)
        client.maintain()
        revocations.refresh()
        if case .unavailable(let reason) = client.status {
            logger.warning("Redis shared state unavailable at start; retrying", metadata: [
                "shared_state": endpoint.display, "error.message": reason,
            ])
        }
        let status = StatusMemory(client.status)
        let worker = PeriodicWorker(name: "shared-state", intervalMs: refreshIntervalMs) {
            client.maintain()
            revocations.refresh()
            let now = client.status
            guard status.exchange(now) != now else { return }
            switch now {
            case .available:
                logger.notice("Redis shared state available", metadata: ["shared_state": endpoint.display])
            case .unavailable(let reason):
                logger.error("Redis shared state unavailable", metadata: [
                    "shared_state": endpoint.display, "error.message": reason,
                ])
            }
        }
        return SharedStores(
            replay: RedisReplayCache(client: client, prefix: prefix, clock: clock),
            rateLimiter: RedisRateLimiter(client: client, prefix: prefix), revocations: revocations,
            backend: endpoint.display, redis: client, worker: worker)
    }

    /// Whether the shared store answers (always for `memory`).
    public var status: SharedStateStatus { redis?.status ?? .available }

    /// Stops the worker and closes the connections (shutdown).
    public func stop() {
        worker?.stop()
        redis?.close()
    }
}

/// The last status the worker saw (to log changes only).
final class StatusMemory: Sendable {
    private let value: Mutex<SharedStateStatus>

    init(_ initial: SharedStateStatus) { value = Mutex(initial) }

    /// Stores `new` and returns the previous value.
    func exchange(_ new: SharedStateStatus) -> SharedStateStatus {
        value.withLock { current in
            defer { current = new }
            return current
        }
    }
}

/// A thread that runs `body` every interval until stopped (off the event loops: it may block).
final class PeriodicWorker: Sendable {
    private let stopped = Atomic<Bool>(false)
    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)

    init(name: String, intervalMs: Int, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread { [self] in
            while !stopped.load(ordering: .acquiring) {
                body()
                _ = wake.wait(timeout: .now() + .milliseconds(intervalMs))
            }
            finished.signal()
        }
        thread.name = name
        thread.start()
    }

    func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        wake.signal()
        finished.wait()
    }
}
