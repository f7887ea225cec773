// One keep-alive connection to the upstream: writes a serialised request, feeds the response bytes to
// HTTP1ResponseDecoder and forwards the events to the call. Loop-confined.

import GatewayIO

final class UpstreamConnection: ByteStreamDelegate {
    private let stream: any ByteStream
    private weak var pool: UpstreamPool?
    private var decoder = HTTP1ResponseDecoder()
    private var buffer = ByteAccumulator()
    private var call: UpstreamCall?
    private var reused = false
    /// The response timeout while a call is active, the idle timeout otherwise (one re-armed timer).
    private var timer: LoopTimer?
    private var pumping = false
    private var closeError: (any Error)?
    private(set) var isClosed = false
    // The stream may hold its delegate weakly; the connection keeps itself alive until the stream closed.
    private var retainedSelf: UpstreamConnection?

    init(stream: any ByteStream, pool: UpstreamPool) {
        self.stream = stream
        self.pool = pool
        retainedSelf = self
        stream.delegate = self
    }

    func start(_ call: UpstreamCall, reused: Bool) {
        timer?.disarm()
        self.call = call
        self.reused = reused
        call.connection = self
        decoder.expectResponse(to: call.request.method)
        stream.write(call.head)
        if !call.separateBody.isEmpty { stream.write(call.separateBody) }
        guard !isClosed else { return }
        armResponseTimer()
        if call.isPaused { stream.pauseReading() } else { stream.resumeReading() }
    }

    func becameIdle(timeoutMs: UInt64) {
        armTimer(timeoutMs)
    }

    func close() {
        guard !isClosed else { return }
        timer?.disarm()
        pool?.forgetIdle(self)  // never handed out again while the close completes
        stream.close()
    }

    // MARK: - Backpressure and cancellation from the call

    func callPaused() {
        timer?.disarm()
        stream.pauseReading()
    }

    func callResumed() {
        if isClosed {
            pump()
            settleAfterClose()
            return
        }
        armResponseTimer()
        stream.resumeReading()
        pump()
    }

    func callCancelled(_ cancelled: UpstreamCall) {
        guard call === cancelled else { return }
        call = nil
        timer?.disarm()
        if isClosed {
            retainedSelf = nil  // it was only kept for the paused call
        } else {
            stream.abort()  // the rest of the response would desynchronise the connection
        }
    }

    // MARK: - ByteStreamDelegate

    func streamDidRead(_ stream: any ByteStream, bytes: UnsafeRawBufferPointer) {
        // Fast path: body bytes of a length- or close-delimited response go straight to the call, with
        // one copy instead of two.
        if buffer.isEmpty, let call, !call.isPaused, !pumping, let chunk = decoder.takeBodyDirectly(bytes) {
            armResponseTimer()
            call.deliverBody(chunk.body)
            if chunk.consumed < bytes.count {
                buffer.append(UnsafeRawBufferPointer(rebasing: bytes[chunk.consumed...]))
            }
            pump()
            return
        }
        buffer.append(bytes)
        guard call != nil else {
            // Bytes while idle: the upstream broke framing; drop the connection.
            stream.abort()
            return
        }
        armResponseTimer()
        pump()
    }

    func streamDidClose(_ stream: any ByteStream, error: (any Error)?) {
        guard !isClosed else { return }
        closeError = error
        isClosed = true
        timer?.invalidate()
        timer = nil
        stream.delegate = nil
        pool?.connectionClosed(self)
        pump()
        // A paused call keeps the connection object until it resumed and consumed what was buffered.
        if call == nil || !(call?.isPaused ?? false) { settleAfterClose() }
    }

    func streamDidDrain(_ stream: any ByteStream) {}

    // MARK: - Response events

    private func pump() {
        guard !pumping else { return }
        pumping = true
        defer { pumping = false }
        while let call, !call.isPaused {
            switch decoder.next(&buffer) {
            case .needMore:
                return
            case .head(let head):
                call.deliverHead(head)
            case .body(let chunk):
                call.deliverBody(chunk)
            case .end(let reusable):
                complete(call, reusable: reusable && buffer.isEmpty)
                return
            case .failed(let message):
                self.call = nil
                stream.abort()
                call.failed(UpstreamError(.invalidResponse, message), reused: reused, receivedBytes: true)
                return
            }
        }
    }

    private func complete(_ call: UpstreamCall, reusable: Bool) {
        self.call = nil
        call.connection = nil
        timer?.disarm()
        if reusable && !isClosed {
            pool?.offerIdle(self)
        } else {
            close()
        }
        call.finish()
    }

    /// Ends the call after the stream closed: a close-delimited body ends here, anything else failed.
    private func settleAfterClose() {
        let error = closeError
        if let call {
            self.call = nil
            if case .end = decoder.connectionClosed() {
                call.finish()
            } else {
                let detail = error.map { "\($0)" } ?? "closed by the upstream"
                call.failed(
                    UpstreamError(.connectionClosed, detail), reused: reused, receivedBytes: decoder.hasReceivedBytes)
            }
        }
        retainedSelf = nil
    }

    private func armResponseTimer() {
        guard let ms = pool?.responseTimeoutMs else {
            timer?.disarm()
            return
        }
        armTimer(ms)
    }

    private func armTimer(_ milliseconds: UInt64) {
        guard !isClosed else { return }
        let timer = self.timer ?? LoopTimer(loop: stream.eventLoop) { [weak self] in self?.timerFired() }
        self.timer = timer
        timer.arm(afterMilliseconds: milliseconds)
    }

    /// With a call in flight the upstream was silent too long; without one the idle connection retires.
    private func timerFired() {
        if call != nil {
            responseTimedOut()
        } else {
            close()
        }
    }

    private func responseTimedOut() {
        guard let call else { return }
        self.call = nil
        stream.abort()
        let error = UpstreamError(.responseTimeout, "no upstream data for \(pool?.responseTimeoutMs ?? 0) ms")
        call.failed(error, reused: reused, receivedBytes: true)
    }
}
