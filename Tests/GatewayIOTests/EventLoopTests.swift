import GatewayTesting
import Dispatch
import Foundation
import Glibc
import Testing
@testable import GatewayIO

@Suite("Event loops") struct EventLoopTests {
    @Test("execute from another thread runs the work on the loop thread")
    func executeFromOtherThread() async {
        let group = EventLoopGroup(count: 2)
        defer { group.shutdown() }
        let loop = group.loops[1]
        #expect(!loop.inEventLoop)

        let ranOnLoop = TestSignal<Bool>()
        DispatchQueue.global().async {
            loop.execute { ranOnLoop.fulfill(loop.inEventLoop && !group.loops[0].inEventLoop) }
        }
        #expect(await ranOnLoop.wait() == true)
    }

    @Test("work queued from many threads all runs, in order per thread")
    func executeManyThreads() async {
        let group = EventLoopGroup(count: 1)
        defer { group.shutdown() }
        let loop = group.loops[0]
        let done = TestSignal<[Int]>()
        final class Box: @unchecked Sendable { var seen: [Int] = [] }  // touched only on the loop thread
        let box = Box()

        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            for i in 0..<250 {
                loop.execute {
                    box.seen.append(thread * 1000 + i)
                    if box.seen.count == 1000 { done.fulfill(box.seen) }
                }
            }
        }
        let seen = await done.wait() ?? []
        #expect(seen.count == 1000)
        for thread in 0..<4 {
            let mine = seen.filter { $0 / 1000 == thread }
            #expect(mine == mine.sorted())
        }
    }

    @Test("a timer fires after its delay")
    func timerFires() async {
        let group = EventLoopGroup(count: 1)
        defer { group.shutdown() }
        let loop = group.loops[0]
        let fired = TestSignal<Double>()
        let start = Date()
        loop.execute {
            _ = loop.schedule(afterMilliseconds: 30) { fired.fulfill(Date().timeIntervalSince(start)) }
        }
        let elapsed = await fired.wait()
        #expect(elapsed != nil)
        #expect((elapsed ?? 0) >= 0.025)
    }

    @Test("a cancelled timer never fires")
    func timerCancel() async {
        let group = EventLoopGroup(count: 1)
        defer { group.shutdown() }
        let loop = group.loops[0]
        let result = TestSignal<Bool>()
        loop.execute {
            var cancelledFired = false
            let doomed = loop.schedule(afterMilliseconds: 20) { cancelledFired = true }
            #expect(doomed.isActive)
            doomed.cancel()
            doomed.cancel()  // idempotent
            #expect(!doomed.isActive)
            _ = loop.schedule(afterMilliseconds: 60) { result.fulfill(cancelledFired) }
        }
        #expect(await result.wait() == false)
    }

    @Test("creating a group ignores SIGPIPE, so a write to a reset connection cannot kill the process")
    func ignoresSIGPIPE() {
        let group = EventLoopGroup(count: 1)
        defer { group.shutdown() }
        var current = sigaction()
        sigaction(SIGPIPE, nil, &current)
        let ignore = unsafeBitCast(SIG_IGN, to: Int.self)
        #expect(unsafeBitCast(current.__sigaction_handler.sa_handler, to: Int.self) == ignore)
    }

    @Test("next() hands out the loops round-robin")
    func roundRobin() {
        let group = EventLoopGroup(count: 3)
        defer { group.shutdown() }
        let picked = (0..<6).map { _ in group.next() }
        for i in 0..<3 {
            #expect(picked[i] === picked[i + 3])
        }
        #expect(Set(picked.map { ObjectIdentifier($0) }).count == 3)
    }

    @Test("shutdown closes pending timers and joins the threads")
    func shutdownJoins() async {
        let group = EventLoopGroup(count: 2)
        let armed = TestSignal<Bool>()
        let fired = TestSignal<Bool>()
        group.loops[0].execute {
            _ = group.loops[0].schedule(afterMilliseconds: 60_000) { fired.fulfill(true) }
            armed.fulfill(true)
        }
        #expect(await armed.wait() == true)

        let joined = TestSignal<Bool>()
        DispatchQueue.global().async {
            group.shutdown()
            joined.fulfill(true)
        }
        #expect(await joined.wait() == true)
        #expect(!fired.isFulfilled)

        // Work queued after shutdown is dropped, not run on a dead loop.
        let late = TestSignal<Bool>()
        group.loops[1].execute { late.fulfill(true) }
        #expect(await late.wait(seconds: 0.2) == nil)
    }
}
