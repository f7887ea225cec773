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
}
