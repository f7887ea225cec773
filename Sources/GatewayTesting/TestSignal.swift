// A one-shot value handed from an event loop thread to an async test, with a timeout so that a broken
// implementation fails the test instead of hanging the run.

import Dispatch
import Synchronization

public final class TestSignal<Value: Sendable>: Sendable {
    private struct State {
        var value: Value?
        var waiter: CheckedContinuation<Value?, Never>?
    }

    private let state = Mutex(State())

    public init() {}

    /// Delivers `value`; later calls are ignored.
    public func fulfill(_ value: Value) {
        let waiter = state.withLock { state -> CheckedContinuation<Value?, Never>? in
            guard state.value == nil else { return nil }
            state.value = value
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: value)
    }

    /// True once `fulfill` was called.
    public var isFulfilled: Bool { state.withLock { $0.value != nil } }

    /// The delivered value, or nil when nothing arrived within `seconds`.
    public func wait(seconds: Double = 60) async -> Value? {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Value? in
                if let value = state.value { return value }
                state.waiter = continuation
                return nil
            }
            if let ready {
                continuation.resume(returning: ready)
                return
            }
            DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { self.timeOut() }
        }
    }

    private func timeOut() {
        let waiter = state.withLock { state -> CheckedContinuation<Value?, Never>? in
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }
}
