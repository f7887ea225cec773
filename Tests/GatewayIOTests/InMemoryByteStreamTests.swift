import GatewayTesting
import Testing
@testable import GatewayIO

@Suite("In-memory stream pair") struct InMemoryByteStreamTests {
    @Test("bytes written on one end arrive on the other, later, in order")
    func roundTrip() async {
        let group = EventLoopGroup(count: 1)
        defer { group.shutdown() }
        let loop = group.loops[0]
        let received = TestSignal<[UInt8]>()
        let reentered = TestSignal<Bool>()
        loop.execute {
            let (left, right) = InMemoryByteStreamPair.make(on: loop)
            let collector = Collector(expected: 6, data: received)
            right.delegate = collector
            left.delegate = EchoHandler()
            left.write([1, 2, 3])
            left.write([4, 5, 6])
            // Delivery never happens inside the writer's call.
            reentered.fulfill(!collector.received.isEmpty)
            _ = right
        }
        #expect(await reentered.wait() == false)
        #expect(await received.wait() == [1, 2, 3, 4, 5, 6])
    }

    @Test("a paused reader holds data back and the writer sees pending bytes until it resumes")
    func backpressure() async {
        let group = EventLoopGroup(count: 1)
        defer { group.shutdown() }
        let loop = group.loops[0]
        let pendingWhilePaused = TestSignal<Int>()
        let received = TestSignal<[UInt8]>()
        let drained = TestSignal<Bool>()
        loop.execute {
            let (writer, reader) = InMemoryByteStreamPair.make(on: loop)
            writer.delegate = Collector(expected: Int.max, drained: drained)
            reader.delegate = Collector(expected: 4, data: received)
            reader.pauseReading()
            writer.write([9, 9, 9, 9])
            loop.executeSoon {
                loop.executeSoon {
                    pendingWhilePaused.fulfill(writer.pendingWriteBytes)
                    #expect(!drained.isFulfilled)
                    reader.resumeReading()
                }
            }
        }
        #expect(await pendingWhilePaused.wait() == 4)
        #expect(await received.wait() == [9, 9, 9, 9])
        #expect(await drained.wait() == true)
    }

    @Test("closing one end delivers pending data and then a clean close to the other")
    func closePropagates() async {
        let group = EventLoopGroup(count: 1)
        defer { group.shutdown() }
        let loop = group.loops[0]
        let received = TestSignal<[UInt8]>()
        let closed = TestSignal<String>()
        loop.execute {
            let (left, right) = InMemoryByteStreamPair.make(on: loop)
            right.delegate = Collector(expected: Int.max, data: received, closed: closed)
            left.write([7, 8])
            left.close()
            left.write([99])  // ignored after close
        }
        #expect(await closed.wait() == "")
        #expect(await received.wait() == [7, 8])
    }

    @Test("TLS runs over the in-memory pair without sockets")
    func tlsOverMemory() async throws {
        let pki = try TestPKI.make()
        defer { pki.remove() }
        let server = try TLSServerContext(
            certificateChainFile: pki.serverCertificate, privateKeyFile: pki.serverKey, alpn: ["http/1.1"])
        let client = try TLSClientContext(caFile: pki.caCertificate)
        let group = EventLoopGroup(count: 1)
        defer { group.shutdown() }
        let loop = group.loops[0]
        let echoed = TestSignal<[UInt8]>()
        let info = TestSignal<TLSConnectionInfo>()
        let payload = (0..<50_000).map { UInt8(truncatingIfNeeded: $0) }
        loop.execute {
            let (clientSide, serverSide) = InMemoryByteStreamPair.make(on: loop)
            let tlsServer = TLSStream(server: serverSide, context: server)
            tlsServer.delegate = EchoHandler(firstInfo: info)
            do {
                let tlsClient = try TLSStream(client: clientSide, context: client, serverName: "localhost")
                tlsClient.delegate = Collector(expected: payload.count, data: echoed)
                tlsClient.write(payload)  // queued until the handshake completes
            } catch {
                echoed.fulfill([])
            }
        }
        #expect(await echoed.wait() == payload)
        #expect(await info.wait()?.serverName == "localhost")
    }

    @Test("a paused TLS reader gets no more plaintext until it resumes, then gets all of it")
    func tlsPauseResume() async throws {
        let pki = try TestPKI.make()
        defer { pki.remove() }
        let server = try TLSServerContext(certificateChainFile: pki.serverCertificate, privateKeyFile: pki.serverKey)
        let client = try TLSClientContext(caFile: pki.caCertificate)
        let group = EventLoopGroup(count: 1)
        defer { group.shutdown() }
        let loop = group.loops[0]
        let whilePaused = TestSignal<Int>()
        let all = TestSignal<[UInt8]>()
        let payload = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 13) }

        /// Pauses after the first record, checks nothing more arrives for a few loop turns, then resumes.
        final class PausingReader: ByteStreamDelegate {
            var received: [UInt8] = []
            let total: Int
            let whilePaused: TestSignal<Int>
            let all: TestSignal<[UInt8]>
            init(total: Int, whilePaused: TestSignal<Int>, all: TestSignal<[UInt8]>) {
                self.total = total
                self.whilePaused = whilePaused
                self.all = all
            }
            func streamDidRead(_ stream: any ByteStream, bytes: UnsafeRawBufferPointer) {
                let first = received.isEmpty
                received.append(contentsOf: bytes)
                if received.count >= total { all.fulfill(received) }
                guard first else { return }
                stream.pauseReading()
                let loop = stream.eventLoop
                loop.executeSoon {
                    loop.executeSoon {
                        self.whilePaused.fulfill(self.received.count)
                        stream.resumeReading()
                    }
                }
            }
            func streamDidClose(_ stream: any ByteStream, error: (any Error)?) { all.fulfill(received) }
            func streamDidDrain(_ stream: any ByteStream) {}
        }

        loop.execute {
            let (clientSide, serverSide) = InMemoryByteStreamPair.make(on: loop)
            let tlsServer = TLSStream(server: serverSide, context: server)
            tlsServer.delegate = PausingReader(total: payload.count, whilePaused: whilePaused, all: all)
            guard let tlsClient = try? TLSStream(client: clientSide, context: client, serverName: "localhost") else {
                return all.fulfill([])
            }
            tlsClient.delegate = Collector(expected: Int.max)
            tlsClient.write(payload)
        }
        #expect(await whilePaused.wait() == 16 * 1024)  // exactly one record before the pause took effect
        #expect(await all.wait() == payload)
    }
}
