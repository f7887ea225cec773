// JWK Sets fetched from configured URLs (client `jwks_url`s and external issuers), cached with refresh.
// Only URLs from configuration ever reach the fetcher: nothing in a token names a URL to fetch (JWT-06).
// An unknown `kid` triggers at most one refetch per cooldown window per URL, concurrent requests share one
// fetch, and a failed fetch never evicts the last good keys (JWT-16; ARCHITECTURE §3: last good keys until
// their max-stale age).

public import JOSE
import Synchronization

/// A fetched JWK Set document.
public struct JWKSDocument: Sendable {
    /// The response body.
    public let body: [UInt8]
    /// `Cache-Control: max-age` in seconds, if the response had one (SMART 2.2: SHALL NOT cache longer).
    public let maxAge: Double?

    /// A fetched document.
    public init(body: [UInt8], maxAge: Double?) {
        self.body = body
        self.maxAge = maxAge
    }
}

/// Fetches a JWK Set over HTTPS. The implementation (integrator) enforces https, a timeout, a size cap and
/// no redirects to other hosts; it calls `completion` exactly once, on any thread.
public protocol JWKSFetcher: Sendable {
    func fetch(url: String, completion: @escaping @Sendable (Result<JWKSDocument, any Error>) -> Void)
}

/// Cache policy for fetched key sets.
public struct JWKSCachePolicy: Sendable {
    /// TTL when the response has no max-age.
    public var defaultTTL: Double = 300
    /// Upper bound on any TTL.
    public var maxTTL: Double = 3600
    /// Minimum seconds between two fetches of one URL (the unknown-`kid` cooldown, JWT-16).
    public var minRefetchInterval: Double = 10
    /// How long the last good keys are used after their TTL when refreshes fail.
    public var maxStale: Double = 3600

    /// The defaults above.
    public init() {}
}

/// The cached JWK Sets, one per URL.
public final class JWKSCache: Sendable {
    private struct Entry {
        var jwks: JWKSet?
        var fetchedAt: Double = -.infinity
        var expiresAt: Double = -.infinity
        var lastAttempt: Double = -.infinity
        var waiters: [@Sendable () -> Void] = []
        var inFlight = false
    }

    private let fetcher: any JWKSFetcher
    private let policy: JWKSCachePolicy
    private let entries = Mutex<[String: Entry]>([:])

    /// A cache that fetches through `fetcher`.
    public init(fetcher: any JWKSFetcher, policy: JWKSCachePolicy = JWKSCachePolicy()) {
        self.fetcher = fetcher
        self.policy = policy
    }

    /// The usable key set for `url` at `now` (fresh, or stale within `maxStale`); nil if none.
    public func keys(url: String, now: Double) -> JWKSet? {
        entries.withLock { entries in
            guard let entry = entries[url], let jwks = entry.jwks else { return nil }
            return now <= entry.expiresAt + policy.maxStale ? jwks : nil
        }
    }

    /// Whether a fetch should run before deciding: no keys yet, TTL passed, or `kid` unknown; and in every
    /// case only if the cooldown since the last attempt has elapsed.
    public func shouldFetch(url: String, keyID: String?, now: Double) -> Bool {
        entries.withLock { entries in
            let entry = entries[url] ?? Entry()
            // A fetch in flight: the caller joins it (`refresh` queues it) rather than failing at once for
            // keys that are about to arrive. Without this, a second request for a new issuer's keys during
            // the first fetch was refused 401, on which request won the race.
            if entry.inFlight { return true }
            guard now - entry.lastAttempt >= policy.minRefetchInterval else { return false }
            guard let jwks = entry.jwks else { return true }
            if now >= entry.expiresAt { return true }
            guard let keyID else { return false }
            return !jwks.keys.contains { $0.keyID == keyID }
        }
    }

    /// Fetches `url` unless a fetch is in flight (then waits for it) or the cooldown forbids it (then
    /// completes at once). `completion` runs exactly once, on any thread.
    public func refresh(url: String, now: Double, completion: @escaping @Sendable () -> Void) {
        enum Action { case queued, skip, start }
        let action: Action = entries.withLock { entries in
            var entry = entries[url] ?? Entry()
            defer { entries[url] = entry }
            if entry.inFlight {
                entry.waiters.append(completion)
                return .queued
            }
            guard now - entry.lastAttempt >= policy.minRefetchInterval else { return .skip }
            entry.inFlight = true
            entry.lastAttempt = now
            entry.waiters.append(completion)
            return .start
        }
        switch action {
        case .queued: break
        case .skip: completion()
        case .start: fetcher.fetch(url: url) { [self] result in finish(url: url, now: now, result: result) }
        }
    }

    private func finish(url: String, now: Double, result: Result<JWKSDocument, any Error>) {
        let waiters: [@Sendable () -> Void] = entries.withLock { entries in
            var entry = entries[url] ?? Entry()
            if case .success(let document) = result, let jwks = try? JWKSet.parse(document.body) {
                let ttl = min(document.maxAge ?? policy.defaultTTL, policy.maxTTL)
                entry.jwks = jwks
                entry.fetchedAt = now
                entry.expiresAt = now + max(ttl, 0)
            }
            // On failure the last good set stays; `keys(url:now:)` stops serving it after maxStale.
            entry.inFlight = false
            let waiting = entry.waiters
            entry.waiters = []
            entries[url] = entry
            return waiting
        }
        for waiter in waiters { waiter() }
    }

    /// Installs a key set directly (tests, or keys loaded at start-up from a file).
    public func install(url: String, jwks: JWKSet, now: Double, ttl: Double? = nil) {
        entries.withLock { entries in
            var entry = entries[url] ?? Entry()
            entry.jwks = jwks
            entry.fetchedAt = now
            entry.expiresAt = now + (ttl ?? policy.defaultTTL)
            entries[url] = entry
        }
    }
}
