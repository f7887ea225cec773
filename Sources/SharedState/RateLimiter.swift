// Quotas and rate limits (issue #8 item 2): fixed-window counters keyed by a bucket string. The
// in-memory limiter serves one instance; a Redis limiter shares the counters between instances.

import Synchronization

/// The answer to one request for a unit of quota.
public enum RateLimitResult: Sendable, Equatable {
    /// Counted; `remaining` units are left in this window.
    case allowed(remaining: Int)
    /// The quota is used up; retry after this many seconds.
    case exceeded(retryAfter: Int)
    /// The shared store cannot be reached: callers fail closed (503).
    case unavailable
}

/// Counts requests against quotas. Thread-safe.
public protocol RateLimiter: Sendable {
    /// Consumes one unit of `key`'s quota of `limit` per `window` seconds at time `now`.
    func consume(key: String, limit: Int, window: Double, now: Double) -> RateLimitResult
}

/// Fixed-window counters in this process, bounded in size.
public final class InMemoryRateLimiter: RateLimiter {
    private struct Window {
        var start: Double
        var count: Int
    }

    private let windows = Mutex<[String: Window]>([:])
    private let capacity: Int

    /// - Parameter capacity: most keys tracked; expired windows are dropped first when it is reached.
    public init(capacity: Int = 100_000) { self.capacity = capacity }

    public func consume(key: String, limit: Int, window: Double, now: Double) -> RateLimitResult {
        // Windows are aligned to multiples of their length, so every instance and restart agrees on them.
        let start = (now / window).rounded(.down) * window
        return windows.withLock { windows in
            if windows.count >= capacity, windows[key] == nil {
                windows = windows.filter { $0.value.start + window > now }
                if windows.count >= capacity { return .unavailable }
            }
            var current = windows[key] ?? Window(start: start, count: 0)
            if current.start != start { current = Window(start: start, count: 0) }
            guard current.count < limit else {
                return .exceeded(retryAfter: max(1, Int((start + window - now).rounded(.up))))
            }
            current.count += 1
            windows[key] = current
            return .allowed(remaining: limit - current.count)
        }
    }
}
