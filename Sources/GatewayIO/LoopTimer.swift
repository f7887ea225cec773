// A re-armable one-shot timer for an object that restarts the same deadline over and over (a connection's
// idle, header or response timeout). `TimerHandle` allocates a uv_timer_t, a closure and an object per
// arming and frees them through uv_close; here one handle serves every arming: `arm` is uv_timer_start
// (which restarts a running timer), `disarm` is uv_timer_stop, and `invalidate` closes the handle.

import CLibUV

/// A one-shot timer that can be armed again; confined to its loop.
///
/// The handle keeps the timer object alive until ``invalidate()`` (or loop shutdown) closes it, so its
/// owner must invalidate it when it is done; the callback should capture the owner weakly.
public final class LoopTimer: LoopHandleOwner {
    private let timer: UnsafeMutablePointer<uv_timer_t>
    private var callback: (() -> Void)?
    /// True between `arm` and the timer firing, `disarm` or `invalidate`.
    public private(set) var isArmed = false

    /// Creates a disarmed timer on `loop` (call on the loop's thread).
    public init(loop: EventLoop, _ callback: @escaping () -> Void) {
        self.callback = callback
        timer = .allocate(capacity: 1)
        uv_timer_init(loop.uv, timer)
        LoopHandle.attach(self, to: LoopHandle.base(timer))
    }

    /// Fires the callback once after `milliseconds`, replacing any earlier arming.
    public func arm(afterMilliseconds milliseconds: UInt64) {
        guard callback != nil else { return }
        isArmed = true
        uv_timer_start(timer, { timer in
            guard let data = timer?.pointee.data else { return }
            Unmanaged<LoopTimer>.fromOpaque(data).takeUnretainedValue().fire()
        }, milliseconds, 0)
    }

    /// Stops the timer if it is armed.
    public func disarm() {
        guard isArmed else { return }
        isArmed = false
        uv_timer_stop(timer)
    }

    /// Stops the timer for good and releases its handle; idempotent.
    public func invalidate() {
        guard callback != nil else { return }
        isArmed = false
        callback = nil
        LoopHandle.close(LoopHandle.base(timer))
    }

    private func fire() {
        isArmed = false
        callback?()
    }

    func handleDidClose() {
        callback = nil
        isArmed = false
        timer.deallocate()
    }
}
