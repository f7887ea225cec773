// One-shot timers on a loop. The handle owns a uv_timer_t through the LoopHandle pattern, so a timer
// that is dropped without `cancel()` still fires (or is closed at shutdown) and frees itself.

import CLibUV

/// A one-shot timer; `cancel()` must be called on the owning loop.
public final class TimerHandle: LoopHandleOwner {
    private let timer: UnsafeMutablePointer<uv_timer_t>
    private var callback: (() -> Void)?

    init(loop: EventLoop, milliseconds: UInt64, callback: @escaping () -> Void) {
        self.callback = callback
        timer = .allocate(capacity: 1)
        uv_timer_init(loop.uv, timer)
        LoopHandle.attach(self, to: LoopHandle.base(timer))
        uv_timer_start(timer, { timer in
            guard let data = timer?.pointee.data else { return }
            Unmanaged<TimerHandle>.fromOpaque(data).takeUnretainedValue().fire()
        }, milliseconds, 0)
    }

    private func fire() {
        let work = callback
        cancel()
        work?()
    }

    /// Stops the timer if it has not fired yet; idempotent.
    public func cancel() {
        guard callback != nil else { return }
        callback = nil
        LoopHandle.close(LoopHandle.base(timer))
    }

    /// True until the timer fired or was cancelled.
    public var isActive: Bool { callback != nil }

    func handleDidClose() {
        callback = nil
        timer.deallocate()
    }
}
