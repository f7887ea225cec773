// Two connected in-memory streams on one loop, for testing the layers above the transport (HTTP codecs,
// TLS) without sockets. Bytes written on one side are delivered to the other on a later loop turn, never
// inside the writer's call, so re-entrancy matches a real socket. Backpressure is real too: a writer's
// `pendingWriteBytes` counts what its peer has not consumed yet (for example while paused).

/// Makes connected pairs of in-memory streams.
public enum InMemoryByteStreamPair {
    /// Two streams on `loop` where each one's writes are the other's reads.
    ///
    /// Must be called on `loop`.
    public static func make(on loop: EventLoop) -> (any ByteStream, any ByteStream) {
        let first = InMemoryByteStream(loop: loop, address: SocketAddress(host: "127.0.0.1", port: 40001))
        let second = InMemoryByteStream(loop: loop, address: SocketAddress(host: "127.0.0.1", port: 40002))
        first.peer = second
        second.peer = first
        return (first, second)
    }
}

/// One end of an in-memory pair. The two ends reference each other until both closed.
final class InMemoryByteStream: ByteStream {
    let eventLoop: EventLoop
    let remoteAddress: SocketAddress
    var tlsInfo: TLSConnectionInfo? { nil }
    var delegate: (any ByteStreamDelegate)? {
        didSet { scheduleDelivery() }
    }
    fileprivate var peer: InMemoryByteStream?

    /// Bytes the peer wrote that this side has not delivered yet.
    private var inbound: [UInt8] = []
    private var inboundEOF = false
    private var readPaused = false
    private var deliveryScheduled = false
    private var closed = false
    private var peerWaitingForDrain = false

    init(loop: EventLoop, address: SocketAddress) {
        eventLoop = loop
        remoteAddress = address
    }

    var pendingWriteBytes: Int { peer?.inbound.count ?? 0 }

    func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { write(contentsOf: $0) }
    }

    func write(contentsOf bytes: UnsafeRawBufferPointer) {
        guard !closed, let peer, !peer.closed, !peer.inboundEOF, !bytes.isEmpty else { return }
        peer.inbound.append(contentsOf: bytes)
        peer.peerWaitingForDrain = true
        peer.scheduleDelivery()
    }

    func pauseReading() { readPaused = true }

    func resumeReading() {
        readPaused = false
        scheduleDelivery()
    }

    func close() {
        guard !closed else { return }
        peer?.inboundEOF = true
        peer?.scheduleDelivery()
        finish(error: nil)
    }

    func abort() {
        guard !closed else { return }
        peer?.inbound.removeAll()
        peer?.inboundEOF = true
        peer?.scheduleDelivery()
        finish(error: nil)
    }

    private func scheduleDelivery() {
        guard !deliveryScheduled, !closed else { return }
        deliveryScheduled = true
        eventLoop.executeSoon { [self] in
            deliveryScheduled = false
            deliver()
        }
    }

    /// Hands everything buffered to the delegate (one read), then reports the peer's close if any.
    private func deliver() {
        guard !closed, let delegate else { return }
        if !inbound.isEmpty && !readPaused {
            let chunk = inbound
            inbound.removeAll(keepingCapacity: true)
            chunk.withUnsafeBytes { delegate.streamDidRead(self, bytes: $0) }
            notifyPeerDrained()
        }
        if inboundEOF && inbound.isEmpty { finish(error: nil) }
    }

    private func notifyPeerDrained() {
        guard peerWaitingForDrain, inbound.isEmpty, let peer, !peer.closed else { return }
        peerWaitingForDrain = false
        peer.delegate?.streamDidDrain(peer)
    }

    private func finish(error: (any Error)?) {
        closed = true
        let delegate = self.delegate
        self.delegate = nil
        eventLoop.executeSoon { [self] in
            delegate?.streamDidClose(self, error: error)
            peer = nil
        }
    }
}
