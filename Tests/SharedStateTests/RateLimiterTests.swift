import Testing
@testable import SharedState

@Suite("In-memory rate limiter")
struct RateLimiterTests {
    @Test("counts a quota per key and window, then refuses with the time to the next window")
    func quota() {
        let limiter = InMemoryRateLimiter()
        let now = 86_400.0 * 100 + 3_600
        for i in 0..<3 {
            #expect(limiter.consume(key: "a", limit: 3, window: 86_400, now: now) == .allowed(remaining: 2 - i))
        }
        #expect(limiter.consume(key: "a", limit: 3, window: 86_400, now: now) == .exceeded(retryAfter: 82_800))
        #expect(limiter.consume(key: "b", limit: 3, window: 86_400, now: now) == .allowed(remaining: 2))
        #expect(limiter.consume(key: "a", limit: 3, window: 86_400, now: now + 82_800) == .allowed(remaining: 2))
    }

    @Test("a full table drops expired windows, and refuses rather than forgets live ones")
    func capacity() {
        let limiter = InMemoryRateLimiter(capacity: 2)
        #expect(limiter.consume(key: "a", limit: 1, window: 10, now: 0) == .allowed(remaining: 0))
        #expect(limiter.consume(key: "b", limit: 1, window: 10, now: 0) == .allowed(remaining: 0))
        #expect(limiter.consume(key: "c", limit: 1, window: 10, now: 5) == .unavailable)
        #expect(limiter.consume(key: "c", limit: 1, window: 10, now: 10) == .allowed(remaining: 0))
    }
}
