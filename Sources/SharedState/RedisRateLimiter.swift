// Quota counters shared by every instance: the same fixed, aligned windows as the in-memory limiter, one
// Redis key per (bucket, window). A Lua script increments and sets the expiry atomically in one round
// trip, so a counter can never be left without an expiry. Instances must agree on the time (NTP): the
// window a request counts in is chosen from the caller's clock.

/// `RateLimiter` on Redis.
public final class RedisRateLimiter: RateLimiter {
    private let client: RedisClient
    private let prefix: String

    /// INCR, and PEXPIRE on the first increment of a window.
    static let script = """
        local n = redis.call('INCR', KEYS[1])
        if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
        return n
        """

    public init(client: RedisClient, prefix: String = SharedStores.defaultPrefix) {
        self.client = client
        self.prefix = prefix
    }

    public func consume(key: String, limit: Int, window: Double, now: Double) -> RateLimitResult {
        let start = (now / window).rounded(.down) * window
        let redisKey = "\(prefix)quota:\(key):\(Int64(start))"
        // The key outlives its window by a second so that a slightly late clock still finds it.
        let ttl = Int64((window + 1) * 1000)
        switch client.execute([["EVAL", Self.script, "1", redisKey, String(ttl)]]) {
        case .success(let replies):
            guard case .integer(let count) = replies.first else { return .unavailable }
            guard count <= Int64(limit) else {
                return .exceeded(retryAfter: max(1, Int((start + window - now).rounded(.up))))
            }
            return .allowed(remaining: limit - Int(count))
        case .failure:
            return .unavailable
        }
    }
}
