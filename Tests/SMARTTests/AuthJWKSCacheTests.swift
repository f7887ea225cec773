// JWKS cache rules: TTL from max-age (capped), cooldown between fetches, last good keys kept through failed
// refreshes until max-stale, and concurrent refreshes sharing one fetch.

import GatewayCore
import GatewayCrypto
import JOSE
import Synchronization
import Testing

@testable import SMART

@Suite("JWKS cache") struct AuthJWKSCacheTests {
    /// Answers with the queued results in order; holds completions when `hold` is set.
    final class ScriptedFetcher: JWKSFetcher {
        struct State {
            var results: [Result<JWKSDocument, any Error>] = []
            var held: [@Sendable (Result<JWKSDocument, any Error>) -> Void] = []
            var calls = 0
            var hold = false
        }
        let state = Mutex(State())

        func fetch(url: String, completion: @escaping @Sendable (Result<JWKSDocument, any Error>) -> Void) {
            let next: Result<JWKSDocument, any Error>? = state.withLock { state in
                state.calls += 1
                if state.hold {
                    state.held.append(completion)
                    return nil
                }
                return state.results.isEmpty ? .failure(Failure()) : state.results.removeFirst()
            }
            if let next { completion(next) }
        }

        struct Failure: Error {}
    }

    static let url = "https://idp.example/jwks.json"
    static let document: JWKSDocument = {
        let jwk = JWK.publicJSON(for: try! PrivateKey.generateEC(.p256).publicKey(), keyID: "k1", algorithm: .es256)
        return JWKSDocument(body: JSONBuild.object([("keys", .array([jwk]))]).serialized(), maxAge: 600)
    }()

    @Test("Failed refreshes keep the last good keys until max-stale, then stop serving them")
    func lastGoodKeys() {
        let fetcher = ScriptedFetcher()
        fetcher.state.withLock { $0.results = [.success(Self.document), .failure(ScriptedFetcher.Failure())] }
        let cache = JWKSCache(fetcher: fetcher)
        cache.refresh(url: Self.url, now: 0) {}
        #expect(cache.keys(url: Self.url, now: 1)?.keys.first?.keyID == "k1")
        #expect(!cache.shouldFetch(url: Self.url, keyID: "k1", now: 100))
        #expect(cache.shouldFetch(url: Self.url, keyID: "k1", now: 600))  // TTL from max-age
        cache.refresh(url: Self.url, now: 600) {}
        #expect(cache.keys(url: Self.url, now: 601)?.keys.count == 1)
        #expect(cache.keys(url: Self.url, now: 600 + 3600 + 1) == nil)
    }

    @Test("Within the cooldown a refresh completes without fetching; concurrent refreshes share one fetch")
    func cooldownAndCoalescing() {
        let fetcher = ScriptedFetcher()
        fetcher.state.withLock { $0.hold = true }
        let cache = JWKSCache(fetcher: fetcher)
        let done = Mutex(0)
        for _ in 0..<5 { cache.refresh(url: Self.url, now: 0) { done.withLock { $0 += 1 } } }
        #expect(fetcher.state.withLock { $0.calls } == 1 && done.withLock { $0 } == 0)
        let held = fetcher.state.withLock { $0.held }
        for completion in held { completion(.success(Self.document)) }
        #expect(done.withLock { $0 } == 5)
        cache.refresh(url: Self.url, now: 5) { done.withLock { $0 += 1 } }
        #expect(fetcher.state.withLock { $0.calls } == 1 && done.withLock { $0 } == 6)
        #expect(!cache.shouldFetch(url: Self.url, keyID: "unknown", now: 9))
        #expect(cache.shouldFetch(url: Self.url, keyID: "unknown", now: 10))
    }

    @Test("A request that needs keys while they are being fetched waits for that fetch instead of failing")
    func joinsFetchInFlight() {
        let fetcher = ScriptedFetcher()
        fetcher.state.withLock { $0.hold = true }
        let cache = JWKSCache(fetcher: fetcher)
        cache.refresh(url: Self.url, now: 0) {}
        #expect(cache.shouldFetch(url: Self.url, keyID: "k1", now: 0.5))  // within the cooldown, but in flight
        let joined = Mutex(false)
        cache.refresh(url: Self.url, now: 0.5) { joined.withLock { $0 = cache.keys(url: Self.url, now: 0.5) != nil } }
        #expect(fetcher.state.withLock { $0.calls } == 1)
        for completion in fetcher.state.withLock({ $0.held }) { completion(.success(Self.document)) }
        #expect(joined.withLock { $0 })
        #expect(!cache.shouldFetch(url: Self.url, keyID: "k1", now: 1))
    }
}
