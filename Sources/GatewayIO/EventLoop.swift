// CONTRACT STUB, replaced by the GatewayIO implementation (libuv loop on its own thread).
// The public surface below is what GatewayHTTP and Gateway code against.

/// One libuv loop running on its own thread. Connections, timers and upstream pools are confined to it.
public final class EventLoop: @unchecked Sendable {  // stub: see implementation for the real justification
    /// Runs `work` on this loop's thread (thread-safe; wakes the loop via uv_async).
    public func execute(_ work: @escaping @Sendable () -> Void) { fatalError("stub") }
    /// True when called on this loop's thread.
    public var inEventLoop: Bool { fatalError("stub") }
    /// Runs `callback` on this loop after `milliseconds`; the returned handle cancels it.
    public func schedule(afterMilliseconds milliseconds: UInt64, _ callback: @escaping () -> Void) -> TimerHandle { fatalError("stub") }
}

/// A scheduled timer; `cancel()` must be called on the owning loop.
public final class TimerHandle {
    public func cancel() {}
}
