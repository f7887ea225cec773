// libuv event loops, one per thread. Everything a connection owns (its TCP handle, TLS state, timers,
// upstream pool) is confined to the loop that accepted or opened it; other threads reach a loop only
// through `execute`, which queues work under a lock and wakes the loop with `uv_async_send`.

import CLibUV
import Dispatch
import Glibc
import Synchronization

/// One libuv loop running on its own thread. Connections, timers and upstream pools are confined to it.
///
/// Loops are created and stopped by an ``EventLoopGroup``.
public final class EventLoop: @unchecked Sendable {
    // @unchecked Sendable: `uv` and `wakeup` are only touched on the loop thread, except `uv_async_send`
    // (thread-safe by libuv's contract); `pending` is behind a Mutex; `thread` is written once before the
    // loop is published by the group (the start semaphore orders it).
    let uv: UnsafeMutablePointer<uv_loop_t>
    private let wakeup: UnsafeMutablePointer<uv_async_t>
    private let pending = Mutex<PendingWork>(PendingWork())
    private var thread = pthread_t()
    /// Work queued by `executeSoon`; touched only on the loop thread.
    private var localItems: [() -> Void] = []
    /// A label for logs and thread names, e.g. `loop-0`.
    public let name: String
    /// Every TCP read on this loop lands here; readers consume it synchronously (see `streamDidRead`).
    let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
    /// TLS decrypts into this buffer, for the same reason.
    let plaintextBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 32 * 1024, alignment: 16)

    private struct PendingWork {
        var items: [@Sendable () -> Void] = []
        var stopping = false
    }

    init(name: String) {
        self.name = name
        uv = .allocate(capacity: 1)
        precondition(uv_loop_init(uv) == 0, "uv_loop_init failed")
        wakeup = .allocate(capacity: 1)
        precondition(uv_async_init(uv, wakeup) { async in
            guard let loop = async.flatMap({ EventLoop.owner(of: $0) }) else { return }
            loop.runPending()
        } == 0, "uv_async_init failed")
        // The async handle is owned by the loop itself; closed during shutdown.
        wakeup.pointee.data = Unmanaged.passUnretained(self).toOpaque()
    }

    deinit {
        // Only reached after the thread ended (it holds a reference while running).
        uv.deallocate()
        wakeup.deallocate()
        readBuffer.deallocate()
        plaintextBuffer.deallocate()
    }

    private static func owner(of async: UnsafeMutablePointer<uv_async_t>) -> EventLoop? {
        async.pointee.data.map { Unmanaged<EventLoop>.fromOpaque($0).takeUnretainedValue() }
    }

    // MARK: - Cross-thread work

    /// Runs `work` on this loop's thread (thread-safe; wakes the loop via uv_async).
    ///
    /// Work queued after the group shut down is dropped.
    public func execute(_ work: @escaping @Sendable () -> Void) {
        pending.withLock { state in
            guard !state.stopping else { return }
            state.items.append(work)
            // A non-empty queue means a wake-up is already on its way. Sending under the lock means no
            // send can race with the loop closing its async handle once `stopping` is set.
            if state.items.count == 1 { uv_async_send(wakeup) }
        }
    }

    /// True when called on this loop's thread.
    public var inEventLoop: Bool { pthread_equal(pthread_self(), thread) != 0 }

    private func runPending() {
        let (items, stopping) = pending.withLock { state in
            let taken = state.items
            state.items.removeAll(keepingCapacity: true)
            return (taken, state.stopping)
        }
        for work in items { work() }
        runLocal()
        if stopping { closeEverything() }
    }

    /// Runs `work` on a later turn of this loop, after the current callback has returned.
    ///
    /// Must be called on this loop's thread; takes no lock. Useful to break re-entrancy (for example a
    /// stream delivering to its peer without recursing into the caller's callback).
    public func executeSoon(_ work: @escaping () -> Void) {
        assert(inEventLoop, "executeSoon must be called on the loop thread")
        localItems.append(work)
        if localItems.count == 1 { uv_async_send(wakeup) }
    }

    private func runLocal() {
        guard !localItems.isEmpty else { return }
        let items = localItems
        localItems.removeAll(keepingCapacity: true)
        for work in items { work() }
        // Work queued while running waits for the next turn, so I/O is not starved.
        if !localItems.isEmpty { uv_async_send(wakeup) }
    }

    // MARK: - Timers

    /// Runs `callback` on this loop after `milliseconds`; the returned handle cancels it.
    ///
    /// Must be called on this loop's thread.
    public func schedule(afterMilliseconds milliseconds: UInt64, _ callback: @escaping () -> Void) -> TimerHandle {
        TimerHandle(loop: self, milliseconds: milliseconds, callback: callback)
    }

    // MARK: - Thread lifecycle

    /// Starts the loop thread and returns once `inEventLoop` is meaningful.
    func start() {
        let started = DispatchSemaphore(value: 0)
        let context = Unmanaged.passRetained(ThreadStart(loop: self, started: started)).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { raw in
            let start = Unmanaged<ThreadStart>.fromOpaque(raw!).takeRetainedValue()
            start.loop.run(started: start.started)
            return nil
        }, context)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        // `run` records the thread id itself before signalling, so no write races with it here.
        started.wait()
    }

    private func run(started: DispatchSemaphore) {
        thread = pthread_self()
        started.signal()
        uv_run(uv, UV_RUN_DEFAULT)
        // Close callbacks queued by the final walk run in this second pass.
        while uv_loop_close(uv) == UV_EBUSY.rawValue {
            closeEverything()
            uv_run(uv, UV_RUN_DEFAULT)
        }
    }

    /// Asks the loop to close every handle it owns; `uv_run` then returns and the thread ends.
    func requestStop() {
        pending.withLock { state in
            guard !state.stopping else { return }
            state.stopping = true
            uv_async_send(wakeup)
        }
    }

    /// Waits for the loop thread to end.
    func join() {
        precondition(!inEventLoop, "an event loop cannot join itself")
        pthread_join(thread, nil)
    }

    private func closeEverything() {
        LoopHandle.closeUnowned(LoopHandle.base(wakeup))
        uv_walk(uv, { handle, _ in
            guard let handle, uv_is_closing(handle) == 0 else { return }
            if handle.pointee.data != nil {
                LoopHandle.close(handle)
            } else {
                uv_close(handle, nil)  // not ours (no owner attached); nothing to release
            }
        }, nil)
    }
}

/// Carries the loop and the start signal into the new thread.
private final class ThreadStart {
    let loop: EventLoop
    let started: DispatchSemaphore
    init(loop: EventLoop, started: DispatchSemaphore) {
        self.loop = loop
        self.started = started
    }
}
