// Small delegates and drivers shared by the transport tests: an echo server, a collecting client and a
// one-call "connect, send, read back, close" exchange.

import GatewayTesting
import GatewayIO

/// Echoes every byte; reports the first connection's TLS details.
final class EchoHandler: ByteStreamDelegate {
    let firstInfo: TestSignal<TLSConnectionInfo>?

    init(firstInfo: TestSignal<TLSConnectionInfo>? = nil) {
        self.firstInfo = firstInfo
    }

    func streamDidRead(_ stream: any ByteStream, bytes: UnsafeRawBufferPointer) {
        if let info = stream.tlsInfo { firstInfo?.fulfill(info) }
        stream.write(contentsOf: bytes)
    }

    func streamDidClose(_ stream: any ByteStream, error: (any Error)?) {}
    func streamDidDrain(_ stream: any ByteStream) {}
}

/// Collects bytes until `expected` arrived (or the stream closed).
final class Collector: ByteStreamDelegate {
    let expected: Int
    let data: TestSignal<[UInt8]>
    let closed: TestSignal<String>
    let drained: TestSignal<Bool>
    private(set) var received: [UInt8] = []
    /// Runs on the loop once `expected` bytes arrived.
    var onComplete: ((any ByteStream, [UInt8]) -> Void)?

    init(
        expected: Int, data: TestSignal<[UInt8]> = TestSignal(), closed: TestSignal<String> = TestSignal(),
        drained: TestSignal<Bool> = TestSignal()
    ) {
        self.expected = expected
        self.data = data
        self.closed = closed
        self.drained = drained
    }

    func streamDidRead(_ stream: any ByteStream, bytes: UnsafeRawBufferPointer) {
        received.append(contentsOf: bytes)
        if received.count >= expected {
            data.fulfill(received)
            onComplete?(stream, received)
            onComplete = nil
        }
    }

    func streamDidClose(_ stream: any ByteStream, error: (any Error)?) {
        data.fulfill(received)
        closed.fulfill(error.map { "\($0)" } ?? "")
    }

    func streamDidDrain(_ stream: any ByteStream) { drained.fulfill(true) }
}

/// What a client saw in one exchange.
struct ClientOutcome: Sendable {
    var received: [UInt8] = []
    var tlsInfo: TLSConnectionInfo?
    var error: String?
}

/// Connects, writes `payload`, waits for as many bytes back, closes, and reports.
func exchange(
    on loop: EventLoop, host: String = "127.0.0.1", port: Int, tls: TLSClientContext? = nil,
    serverName: String? = nil, timeoutMilliseconds: UInt64 = 5_000, payload: [UInt8]
) async -> ClientOutcome {
    let outcome = TestSignal<ClientOutcome>()
    loop.execute {
        TCPConnector.connect(
            on: loop, host: host, port: port, tls: tls, serverName: serverName, timeoutMilliseconds: timeoutMilliseconds
        ) { result in
            switch result {
            case .failure(let error):
                outcome.fulfill(ClientOutcome(error: "\(error)"))
            case .success(let stream):
                let collector = Collector(expected: payload.count)
                collector.onComplete = { stream, received in
                    outcome.fulfill(ClientOutcome(received: received, tlsInfo: stream.tlsInfo))
                    stream.close()
                }
                let closed = collector.closed
                stream.delegate = collector
                stream.write(payload)
                Task {
                    // A stream that closes early still produces an outcome.
                    let error = await closed.wait()
                    outcome.fulfill(ClientOutcome(error: "closed early: \(error ?? "timeout")"))
                }
            }
        }
    }
    return await outcome.wait() ?? ClientOutcome(error: "no outcome within the test timeout")
}

/// Starts a TLS echo listener on loopback and reports the first connection's TLS details.
func tlsEchoServer(
    _ group: EventLoopGroup, context: TLSServerContext
) throws -> (Listener, TestSignal<TLSConnectionInfo>) {
    let info = TestSignal<TLSConnectionInfo>()
    let listener = try Listener(group: group, host: "127.0.0.1", port: 0, tls: context) { stream in
        stream.delegate = EchoHandler(firstInfo: info)
    }
    return (listener, info)
}

/// Hands an accepted stream to the test; the stream itself is only used on its own loop.
final class StreamBox: @unchecked Sendable {
    // @unchecked Sendable: written once on the accepting loop before a TestSignal (a Mutex) publishes it;
    // the stream is then only touched inside `execute` on its own loop.
    var stream: (any ByteStream)?
}
