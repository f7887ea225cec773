import GatewayTesting
import Testing
@testable import GatewayIO

@Suite("Backpressure") struct BackpressureTests {
    @Test("a paused reader makes the writer queue bytes, and resuming drains them")
    func pauseQueuesAndDrains() async throws {
        let group = EventLoopGroup(count: 2)
        defer { group.shutdown() }
        let serverStream = TestSignal<Bool>()
        let total = 16 * 1024 * 1024
        let serverGot = TestSignal<[UInt8]>()
        final class PausedSink: ByteStreamDelegate, @unchecked Sendable {
            // @unchecked Sendable: used only on the accepting loop after creation.
            var count = 0
            let total: Int
            let done: TestSignal<[UInt8]>
            init(total: Int, done: TestSignal<[UInt8]>) {
                self.total = total
                self.done = done
            }
            func streamDidRead(_ stream: any ByteStream, bytes: UnsafeRawBufferPointer) {
                count += bytes.count
                if count >= total { done.fulfill([1]) }
            }
            func streamDidClose(_ stream: any ByteStream, error: (any Error)?) {}
            func streamDidDrain(_ stream: any ByteStream) {}
        }
        let accepted = StreamBox()
        let server = try Listener(group: group, host: "127.0.0.1", port: 0) { stream in
            stream.delegate = PausedSink(total: total, done: serverGot)
            stream.pauseReading()
            accepted.stream = stream
            serverStream.fulfill(true)
        }

        let client = TestSignal<[Int]>()
        let drained = TestSignal<Bool>()
        let loop = group.loops[0]
        loop.execute {
            TCPConnector.connect(on: loop, host: "127.0.0.1", port: server.port) { result in
                guard case .success(let stream) = result else { return client.fulfill([]) }
                let collector = Collector(expected: 1)
                stream.delegate = collector
                stream.write([UInt8](repeating: 0x5A, count: total))
                client.fulfill([stream.pendingWriteBytes])
                let drainSignal = collector.drained
                Task {
                    _ = await drainSignal.wait()
                    drained.fulfill(true)
                }
            }
        }
        let pending = await client.wait() ?? []
        #expect((pending.first ?? 0) > 0)
        #expect(await serverStream.wait() == true)
        #expect(!drained.isFulfilled)

        let serverLoop = try #require(accepted.stream?.eventLoop)
        serverLoop.execute { accepted.stream?.resumeReading() }
        #expect(await serverGot.wait() != nil)
        #expect(await drained.wait() == true)
    }

    @Test("bytes and the peer's close that arrive while paused are delivered after resume, in order")
    func heldWhilePaused() async throws {
        let group = EventLoopGroup(count: 2)
        defer { group.shutdown() }
        final class Recorder: ByteStreamDelegate, @unchecked Sendable {
            // @unchecked Sendable: touched only on the accepting loop.
            var events: [String] = []
            let closed: TestSignal<[String]>
            init(closed: TestSignal<[String]>) { self.closed = closed }
            func streamDidRead(_ stream: any ByteStream, bytes: UnsafeRawBufferPointer) {
                events.append(String(decoding: bytes, as: UTF8.self))
            }
            func streamDidClose(_ stream: any ByteStream, error: (any Error)?) {
                events.append("closed")
                closed.fulfill(events)
            }
            func streamDidDrain(_ stream: any ByteStream) {}
        }
        let serverClosed = TestSignal<[String]>()
        let recorder = Recorder(closed: serverClosed)
        let accepted = StreamBox()
        let acceptedSignal = TestSignal<Bool>()
        let server = try Listener(group: group, host: "127.0.0.1", port: 0) { stream in
            stream.delegate = recorder
            stream.pauseReading()
            accepted.stream = stream
            acceptedSignal.fulfill(true)
        }
        // The client writes and closes; its close completes only after lingering for the server's FIN,
        // which a paused server never sends, so by then the bytes and the FIN have long arrived.
        let clientClosed = TestSignal<String>()
        let loop = group.loops[0]
        loop.execute {
            TCPConnector.connect(on: loop, host: "127.0.0.1", port: server.port) { result in
                guard case .success(let stream) = result else { return clientClosed.fulfill("connect failed") }
                stream.delegate = Collector(expected: 1, closed: clientClosed)
                stream.write(Array("hello".utf8))
                stream.close()
            }
        }
        #expect(await acceptedSignal.wait() == true)
        #expect(await clientClosed.wait() != nil)
        let serverLoop = try #require(accepted.stream?.eventLoop)
        let beforeResume = TestSignal<[String]>()
        serverLoop.execute {
            beforeResume.fulfill(recorder.events)
            accepted.stream?.resumeReading()
        }
        #expect(await beforeResume.wait() == [])
        #expect(await serverClosed.wait() == ["hello", "closed"])
    }
}
