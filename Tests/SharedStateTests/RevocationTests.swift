import Synchronization
import Testing
@testable import SharedState

/// A settable clock for tests.
final class TestClock: Sendable {
    private let value: Mutex<Double>
    init(_ start: Double) { value = Mutex(start) }
    var now: Double { value.withLock { $0 } }
    func advance(_ seconds: Double) { value.withLock { $0 += seconds } }
    var function: @Sendable () -> Double { { self.now } }
}

@Suite("Revocation list in memory")
struct RevocationTests {
    @Test("a revoked jti is refused for every client, other tokens are not, until the revocation ends")
    func byToken() {
        let clock = TestClock(1_000)
        let list = InMemoryRevocationList(clock: clock.function)
        #expect(!list.isRevoked(jti: "t-1", clientID: "app"))
        #expect(list.revoke(.token(jti: "t-1"), until: 1_100) == .applied)
        #expect(list.isRevoked(jti: "t-1", clientID: "app"))
        #expect(!list.isRevoked(jti: "t-2", clientID: "app"))
        #expect(!list.isRevoked(jti: nil, clientID: "app"))
        clock.advance(100)
        #expect(!list.isRevoked(jti: "t-1", clientID: "app"))
    }

    @Test("revoking a client refuses all of its tokens, with or without a jti, and no other client's")
    func byClient() {
        let clock = TestClock(1_000)
        let list = InMemoryRevocationList(clock: clock.function)
        _ = list.revoke(.client(id: "app"), until: 2_000)
        #expect(list.isRevoked(jti: "anything", clientID: "app"))
        #expect(list.isRevoked(jti: nil, clientID: "app"))
        #expect(!list.isRevoked(jti: "anything", clientID: "app-2"))
        #expect(list.active == [.client(id: "app"): 2_000])
    }

    @Test("a shorter second revocation never shortens the first")
    func keepsLater() {
        let clock = TestClock(0)
        let list = InMemoryRevocationList(clock: clock.function)
        _ = list.revoke(.token(jti: "t"), until: 500)
        _ = list.revoke(.token(jti: "t"), until: 100)
        clock.advance(200)
        #expect(list.isRevoked(jti: "t", clientID: "c"))
    }

    @Test("the sorted-set reply is read as member/score pairs, and any other shape is refused")
    func pairs() {
        let good = RedisReply.array([.bulk(Array("a".utf8)), .bulk(Array("12.5".utf8)), .bulk(Array("b".utf8)), .bulk(Array("7".utf8))])
        let read = RedisRevocationList.pairs(good)
        #expect(read?.map(\.0) == ["a", "b"])
        #expect(read?.map(\.1) == [12.5, 7])
        #expect(RedisRevocationList.pairs(.array([.bulk(Array("a".utf8))])) == nil)
        #expect(RedisRevocationList.pairs(.array([.bulk(Array("a".utf8)), .bulk(Array("x".utf8))])) == nil)
        #expect(RedisRevocationList.pairs(.error("WRONGTYPE")) == nil)
    }
}
