import GatewayTesting
import Testing
@testable import GatewayIO

/// Pokes every stream method from inside `streamDidClose`, as connection objects tearing down do.
private final class ReentrantCloser: ByteStreamDelegate {
    let done: TestSignal<Bool>
    init(done: TestSignal<Bool>) { self.done = done }
    func streamDidRead(_ stream: any ByteStream, bytes: UnsafeRawBufferPointer) { stream.close() }
    func streamDidClose(_ stream: any ByteStream, error: (any Error)?) {
        stream.delegate = nil
        stream.pauseReading()
        stream.resumeReading()
        stream.write([1, 2, 3])
        stream.close()
        stream.abort()
        stream.delegate = self
        done.fulfill(stream.pendingWriteBytes == 0)
    }
    func streamDidDrain(_ stream: any ByteStream) {}
}

@Suite("Stream teardown") struct StreamTeardownTests {
    @Test("every stream method is harmless once the stream reported its close", arguments: [false, true])
    func methodsAfterClose(tls: Bool) async throws {
        let pki = try TestPKI.make()
        defer { pki.remove() }
        let group = EventLoopGroup(count: 1)
        defer { group.shutdown() }
        let serverDone = TestSignal<Bool>()
        let context = tls
            ? try TLSServerContext(certificateChainFile: pki.serverCertificate, privateKeyFile: pki.serverKey) : nil
        let listener = try Listener(group: group, host: "127.0.0.1", port: 0, tls: context) { stream in
            stream.delegate = ReentrantCloser(done: serverDone)
        }
        let clientTLS = tls ? try TLSClientContext(caFile: pki.caCertificate) : nil
        let clientDone = TestSignal<Bool>()
        let loop = group.loops[0]
        loop.execute {
            TCPConnector.connect(
                on: loop, host: "127.0.0.1", port: listener.port, tls: clientTLS, serverName: "localhost"
            ) { result in
                guard case .success(let stream) = result else { return clientDone.fulfill(false) }
                stream.delegate = ReentrantCloser(done: clientDone)
                stream.write([42])
            }
        }
        #expect(await serverDone.wait() == true)
        #expect(await clientDone.wait() == true)
    }
}
