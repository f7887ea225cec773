// Carries a loop-confined object through a callback that may run on another thread (audit writer, JWKS
// fetch), and hands it back on its own loop.

import GatewayIO

/// A reference to a loop-confined value that may cross threads but is only ever touched on `loop`.
struct LoopBound<Value: AnyObject>: @unchecked Sendable {
    // Safe: `value` is read only inside `loop.execute` (or after checking `inEventLoop`), i.e. on the one
    // thread that owns it; crossing threads only moves the reference.
    private let value: Value
    let loop: EventLoop

    init(_ value: Value, on loop: EventLoop) {
        self.value = value
        self.loop = loop
    }

    /// Runs `body` with the value on its loop: at once when already there, else queued.
    func run(_ body: @escaping @Sendable (Value) -> Void) {
        if loop.inEventLoop {
            body(value)
        } else {
            let copy = self
            loop.execute { body(copy.value) }
        }
    }
}
