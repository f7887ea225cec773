// A fixed set of loops, one thread each; the process normally has one group sized to the core count.

import Glibc
import Synchronization

/// A fixed set of event loops, one thread each.
public final class EventLoopGroup: Sendable {
    /// The loops, in creation order.
    public let loops: [EventLoop]
    private let cursor = Atomic<Int>(0)
    private let stopped = Atomic<Bool>(false)

    /// Starts `count` loops (default: the number of online cores), each on its own thread.
    public init(count: Int = EventLoopGroup.coreCount) {
        precondition(count > 0, "an event loop group needs at least one loop")
        // libuv writes with write(2), not send(MSG_NOSIGNAL): a write to a connection the peer reset would
        // otherwise raise SIGPIPE and kill the process. EPIPE is reported as an error instead.
        signal(SIGPIPE, SIG_IGN)
        loops = (0..<count).map { EventLoop(name: "loop-\($0)") }
        for loop in loops { loop.start() }
    }

    /// The number of online cores (at least 1).
    public static var coreCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// The next loop, round-robin (for spreading outbound connections).
    public func next() -> EventLoop {
        let index = cursor.wrappingAdd(1, ordering: .relaxed).oldValue
        return loops[index % loops.count]
    }

    /// Closes every handle on every loop (connections see `streamDidClose`), then joins the threads.
    ///
    /// Must not be called from one of the group's loops. Calling it twice is harmless.
    public func shutdown() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        for loop in loops { loop.requestStop() }
        for loop in loops { loop.join() }
    }
}
