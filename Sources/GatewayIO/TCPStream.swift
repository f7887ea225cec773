// A TCP connection as a `ByteStream`, confined to one loop.
//
// Writes go straight to the kernel with `uv_try_write`; only what the kernel did not take is copied into
// a heap `uv_write_t` block (C-INTEROP pitfall 11: the buffer must outlive the write). Reads land in the
// loop's shared read buffer, so reading allocates nothing. `close()` flushes, sends FIN, then reads and
// discards until the peer's FIN (bounded by a linger timer): closing a socket that still has unread input
// makes Linux send RST, which can destroy a response the peer has not read yet.
//
// Pausing is lazy: `pauseReading()` only stops delivery. The socket stays in the poll set until something
// actually arrives while paused; that one read is held (with an end of stream or error behind it) and
// only then is reading stopped. An HTTP/1.1 server pauses around every request, and its client normally
// sends nothing meanwhile, so stopping and restarting the poll each time cost two `epoll_ctl` calls per
// request for nothing.

import CLibUV
import GatewayCore

final class TCPStream: ByteStream, LoopHandleOwner {
    let eventLoop: EventLoop
    let handle: UnsafeMutablePointer<uv_tcp_t>
    var remoteAddress: SocketAddress
    var tlsInfo: TLSConnectionInfo? { nil }
    private(set) var pendingWriteBytes = 0

    /// Strong while the stream is open (the delegate usually owns the stream too); cleared after
    /// `streamDidClose`, which breaks the cycle.
    var delegate: (any ByteStreamDelegate)? {
        didSet { updateReading() }
    }

    private enum State { case connecting, open, flushing, lingering, closed }
    private var state: State
    private var readPaused = false
    private var reading = false
    /// Bytes read while paused, delivered on resume (at most one read's worth: reading stops meanwhile).
    private var held: [UInt8] = []
    /// End of stream (nil error) or a read error that arrived while paused, after `held`.
    private var heldEnd: HeldEnd?
    private var deliveryScheduled = false

    private enum HeldEnd {
        case endOfStream
        case failure(Int32)
    }
    private var closeError: (any Error)?
    private var lingerTimer: TimerHandle?
    private let countsAsClientConnection: Bool

    /// How long a closing stream waits for the peer's FIN before closing anyway.
    static let lingerMilliseconds: UInt64 = 2_000

    /// Creates an initialised, not yet connected TCP handle owned by the new stream.
    init(loop: EventLoop, remoteAddress: SocketAddress, connected: Bool, countsAsClientConnection: Bool) {
        eventLoop = loop
        self.remoteAddress = remoteAddress
        self.countsAsClientConnection = countsAsClientConnection
        state = connected ? .open : .connecting
        handle = .allocate(capacity: 1)
        uv_tcp_init(loop.uv, handle)
        LoopHandle.attach(self, to: LoopHandle.base(handle))
        if countsAsClientConnection { IOMetrics.openConnections.add(1) }
    }

    var stream: UnsafeMutablePointer<uv_stream_t> { LoopHandle.stream(handle) }

    /// Marks a connecting stream connected (called by the connector).
    func didConnect() {
        guard state == .connecting else { return }
        state = .open
        uv_tcp_nodelay(handle, 1)
        updateReading()
    }

    // MARK: - Reading

    func pauseReading() {
        readPaused = true
    }

    func resumeReading() {
        guard readPaused else { return }
        readPaused = false
        if holdsInput { scheduleHeldDelivery() }
        updateReading()
    }

    private var holdsInput: Bool { !held.isEmpty || heldEnd != nil }

    private func updateReading() {
        // Once closing started, libuv stops reading itself and the handle may already be freed.
        guard state != .closed else {
            reading = false
            return
        }
        // Paused streams keep polling until something arrives (see the file comment), then stop.
        let want = (state == .open && delegate != nil && !holdsInput) || state == .lingering
        guard want != reading else { return }
        reading = want
        if want {
            uv_read_start(stream, TCPStream.allocate, TCPStream.didRead)
        } else {
            uv_read_stop(stream)
        }
    }

    /// Delivers what was held on a later turn of the loop: `resumeReading()` is often called from inside
    /// the delegate's own processing, which must not be re-entered.
    private func scheduleHeldDelivery() {
        guard !deliveryScheduled else { return }
        deliveryScheduled = true
        eventLoop.executeSoon { [self] in
            deliveryScheduled = false
            deliverHeld()
        }
    }

    private func deliverHeld() {
        guard state == .open, !readPaused else { return }
        if !held.isEmpty {
            let bytes = held
            held = []
            bytes.withUnsafeBytes { delegate?.streamDidRead(self, bytes: $0) }
        }
        guard state == .open, !readPaused, let end = heldEnd else {
            updateReading()
            return
        }
        heldEnd = nil
        switch end {
        case .endOfStream: peerClosed()
        case .failure(let code): fail(IOError(code, "read"))
        }
    }

    private static let allocate: uv_alloc_cb = { handle, _, buf in
        guard let handle, let buf, let data = handle.pointee.data else { return }
        let owner = Unmanaged<TCPStream>.fromOpaque(data).takeUnretainedValue()
        let buffer = owner.eventLoop.readBuffer
        buf.pointee = uv_buf_init(buffer.baseAddress!.assumingMemoryBound(to: CChar.self), UInt32(buffer.count))
    }

    private static let didRead: uv_read_cb = { stream, nread, buf in
        guard let stream, let data = stream.pointee.data else { return }
        let owner = Unmanaged<TCPStream>.fromOpaque(data).takeUnretainedValue()
        if nread > 0, let base = buf?.pointee.base {
            owner.received(UnsafeRawBufferPointer(start: base, count: nread))
        } else if nread == Int(UV_EOF.rawValue) {
            owner.peerClosed()
        } else if nread < 0 {
            owner.readFailed(Int32(nread))
        }
    }

    private func received(_ bytes: UnsafeRawBufferPointer) {
        guard state == .open else { return }  // lingering: input is discarded
        if readPaused || holdsInput {
            held.append(contentsOf: bytes)
            updateReading()
            return
        }
        delegate?.streamDidRead(self, bytes: bytes)
    }

    private func readFailed(_ code: Int32) {
        if state == .open && (readPaused || holdsInput) {
            heldEnd = .failure(code)
            updateReading()
            return
        }
        fail(IOError(code, "read"))
    }

    private func peerClosed() {
        if state == .open && (readPaused || holdsInput) {
            heldEnd = .endOfStream
            updateReading()
            return
        }
        switch state {
        case .lingering: LoopHandle.close(LoopHandle.base(handle))
        case .open:
            state = .flushing
            updateReading()
            if pendingWriteBytes == 0 { LoopHandle.close(LoopHandle.base(handle)) }
        default: break
        }
    }

    // MARK: - Writing

    func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { write(contentsOf: $0) }
    }

    func write(contentsOf bytes: UnsafeRawBufferPointer) {
        guard state == .open || state == .connecting, let base = bytes.baseAddress, bytes.count > 0 else { return }
        var offset = 0
        if pendingWriteBytes == 0 && state == .open {
            var buf = uv_buf_init(UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: CChar.self)),
                                  UInt32(bytes.count))
            let written = Int(uv_try_write(stream, &buf, 1))
            if written == bytes.count { return }
            if written < 0 && written != Int(UV_EAGAIN.rawValue) {
                fail(IOError(Int32(written), "write"))
                return
            }
            offset = max(0, written)
        }
        enqueue(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
    }

    /// Copies `bytes` into one heap block laid out as [uv_write_t][length][payload] and queues it.
    private func enqueue(_ bytes: UnsafeRawBufferPointer) {
        let block = WriteBlock.allocate(copying: bytes, owner: self)
        pendingWriteBytes += bytes.count
        var buf = uv_buf_init(block.payload.assumingMemoryBound(to: CChar.self), UInt32(bytes.count))
        let rc = uv_write(block.request, stream, &buf, 1) { request, status in
            guard let request else { return }
            let block = WriteBlock(request: request)
            let owner = Unmanaged<TCPStream>.fromOpaque(request.pointee.data).takeUnretainedValue()
            let count = block.length
            block.free()
            owner.didWrite(count: count, status: status)
        }
        if rc != 0 {
            pendingWriteBytes -= bytes.count
            block.free()
            fail(IOError(rc, "write"))
        }
    }

    private func didWrite(count: Int, status: Int32) {
        pendingWriteBytes -= count
        if status < 0 {
            if status != UV_ECANCELED.rawValue { fail(IOError(status, "write")) }
            return
        }
        guard pendingWriteBytes == 0 else { return }
        switch state {
        case .open: delegate?.streamDidDrain(self)
        case .flushing: finishFlush()
        default: break
        }
    }

    // MARK: - Closing

    func close() {
        switch state {
        case .open:
            state = .flushing
            updateReading()
            if pendingWriteBytes == 0 { finishFlush() }
        case .connecting:
            abort()
        default:
            break
        }
    }

    func abort() {
        guard state != .closed else { return }
        state = .closed
        LoopHandle.close(LoopHandle.base(handle))
    }

    func fail(_ error: any Error) {
        guard state != .closed else { return }
        if closeError == nil { closeError = error }
        abort()
    }

    /// Sends FIN, then lingers, reading and discarding until the peer's FIN or the timer.
    private func finishFlush() {
        let request = UnsafeMutablePointer<uv_shutdown_t>.allocate(capacity: 1)
        request.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        let rc = uv_shutdown(request, stream) { request, status in
            guard let request else { return }
            let owner = Unmanaged<TCPStream>.fromOpaque(request.pointee.data).takeUnretainedValue()
            request.deallocate()
            owner.didShutdown(status: status)
        }
        if rc != 0 {
            request.deallocate()
            abort()
        }
    }

    private func didShutdown(status: Int32) {
        guard state == .flushing else { return }
        guard status == 0, uv_is_readable(stream) != 0 else {
            abort()
            return
        }
        state = .lingering
        updateReading()
        lingerTimer = eventLoop.schedule(afterMilliseconds: Self.lingerMilliseconds) { [weak self] in
            self?.abort()
        }
    }

    func handleDidClose() {
        state = .closed
        reading = false
        lingerTimer?.cancel()
        lingerTimer = nil
        handle.deallocate()
        if countsAsClientConnection { IOMetrics.openConnections.add(-1) }
        let delegate = self.delegate
        self.delegate = nil
        delegate?.streamDidClose(self, error: closeError)
    }
}

/// A queued write: one allocation holding the request, the payload length and the payload.
struct WriteBlock {
    let request: UnsafeMutablePointer<uv_write_t>

    private static let headerSize = (MemoryLayout<uv_write_t>.stride + 15) & ~15

    static func allocate(copying bytes: UnsafeRawBufferPointer, owner: AnyObject) -> WriteBlock {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: headerSize + 16 + bytes.count, alignment: 16)
        let request = raw.bindMemory(to: uv_write_t.self, capacity: 1)
        request.pointee.data = Unmanaged.passUnretained(owner).toOpaque()
        (raw + headerSize).storeBytes(of: bytes.count, as: Int.self)
        (raw + headerSize + 16).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        return WriteBlock(request: request)
    }

    init(request: UnsafeMutablePointer<uv_write_t>) {
        self.request = request
    }

    var length: Int { (UnsafeMutableRawPointer(request) + Self.headerSize).load(as: Int.self) }
    var payload: UnsafeMutableRawPointer { UnsafeMutableRawPointer(request) + Self.headerSize + 16 }

    func free() { UnsafeMutableRawPointer(request).deallocate() }
}
