// The client-assertion replay store shared by every instance (SMART 2.2 backend services: a `jti` is
// accepted once per `iss`; RFC 7523 §3 item 7). One atomic `SET key 1 NX PX ttl`: the first instance to
// write the key wins, every later claim sees it, and Redis forgets it when the assertion can no longer
// be accepted anyway. Any failure is `unavailable`, which the token endpoint answers with 503: an
// assertion is never accepted without proof that it is fresh.
// TODO(#8): a Redis that restarts without its data (no append-only file, or `appendfsync everysec` and a
// crash) forgets used `jti`s and the gateways accept a replay (MultiInstanceFaultTests shows it with
// persistence off). The gateway could notice the new `run_id` (INFO server) and, for one assertion
// lifetime, accept only assertions issued after the restart; quota counters would need the same care.

public import SMART

/// `ReplayCache` on Redis.
public final class RedisReplayCache: ReplayCache {
    private let client: RedisClient
    private let prefix: String
    private let clock: @Sendable () -> Double

    /// - Parameters:
    ///   - prefix: namespace of every key (several deployments may share one Redis database).
    ///   - clock: "now" in seconds since the epoch, for the time-to-live.
    public init(client: RedisClient, prefix: String = SharedStores.defaultPrefix, clock: @escaping @Sendable () -> Double) {
        self.client = client
        self.prefix = prefix
        self.clock = clock
    }

    public func claim(issuer: String, jti: String, expiresAt: Double) -> ReplayResult {
        // The key holds (issuer, jti) and never the token text (rule 0.2); the issuer's length keeps
        // ("a:b", "c") and ("a", "b:c") apart.
        let key = "\(prefix)jti:\(issuer.utf8.count):\(issuer):\(jti)"
        // At least one second, so that an assertion expiring right now is still remembered past any
        // instance's leeway check made a moment earlier.
        let ttl = max(1_000, Int(((expiresAt - clock()) * 1000).rounded(.up)))
        switch client.execute([["SET", key, "1", "NX", "PX", String(ttl)]]) {
        case .success(let replies):
            switch replies.first {
            case .status("OK"): return .fresh
            case .null: return .replayed
            default: return .unavailable  // an error reply (e.g. OOM, READONLY replica) proves nothing
            }
        case .failure:
            return .unavailable
        }
    }
}
