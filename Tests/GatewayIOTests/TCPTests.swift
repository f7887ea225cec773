import GatewayTesting
import Dispatch
import Foundation
import Glibc
import GatewayCore
import Testing
@testable import GatewayIO

@Suite("Plain TCP") struct TCPTests {
    @Test("an echo server on port 0 returns exactly what the client sent")
    func echoRoundTrip() async throws {
        let group = EventLoopGroup(count: 2)
        defer { group.shutdown() }
        let listener = try Listener(group: group, host: "127.0.0.1", port: 0) { stream in
            stream.delegate = EchoHandler()
        }
        #expect(listener.port > 0)

        let payload = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let outcome = await exchange(on: group.next(), port: listener.port, payload: payload)
        #expect(outcome.error == nil)
        #expect(outcome.received == payload)
        #expect(outcome.tlsInfo == nil)
    }

    @Test("connecting by name resolves asynchronously and tries each address")
    func connectByName() async throws {
        let group = EventLoopGroup(count: 1)
        defer { group.shutdown() }
        let listener = try Listener(group: group, host: "127.0.0.1", port: 0) { $0.delegate = EchoHandler() }
        // Where localhost resolves to ::1 first, the connector falls back to 127.0.0.1.
        let outcome = await exchange(
            on: group.loops[0], host: "localhost", port: listener.port, payload: Array("hi".utf8))
        #expect(outcome.error == nil)
        #expect(outcome.received == Array("hi".utf8))
    }

    @Test("a refused connection fails with ECONNREFUSED, an unknown name fails to resolve")
    func connectFailures() async throws {
        let group = EventLoopGroup(count: 1)
        defer { group.shutdown() }
        // Find a free port, then release it so nothing listens there.
        let probe = try Listener(group: group, host: "127.0.0.1", port: 0) { _ in }
        let port = probe.port
        let closed = TestSignal<Bool>()
        probe.close { closed.fulfill(true) }
        #expect(await closed.wait() == true)

        let refused = await exchange(on: group.loops[0], port: port, payload: [1])
        #expect(refused.error?.contains("ECONNREFUSED") == true)
        let unknown = await exchange(on: group.loops[0], host: "no-such-host.invalid", port: 80, payload: [1])
        #expect(unknown.error?.contains("resolve") == true)
    }

    @Test("a closed listener stops accepting")
    func listenerClose() async throws {
        let group = EventLoopGroup(count: 2)
        defer { group.shutdown() }
        let listener = try Listener(group: group, host: "127.0.0.1", port: 0) { $0.delegate = EchoHandler() }
        let before = await exchange(on: group.loops[0], port: listener.port, payload: [7])
        #expect(before.received == [7])

        let closed = TestSignal<Bool>()
        listener.close { closed.fulfill(true) }
        #expect(await closed.wait() == true)
        let after = await exchange(on: group.loops[0], port: listener.port, payload: [7])
        #expect(after.error?.contains("ECONNREFUSED") == true)
    }

    @Test("a name instead of an address, or a port held without SO_REUSEPORT, fails with an IOError")
    func bindFailure() throws {
        let group = EventLoopGroup(count: 1)
        defer { group.shutdown() }
        #expect(throws: IOError.self) {
            _ = try Listener(group: group, host: "not-an-ip", port: 0) { _ in }
        }

        // A plain socket (no SO_REUSEPORT) holds a port; sharing it must be refused.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                _ = bind(fd, raw, length)
                _ = listen(fd, 1)
                _ = getsockname(fd, raw, &length)
            }
        }
        let port = Int(UInt16(bigEndian: address.sin_port))
        #expect(port > 0)
        let error = #expect(throws: IOError.self) {
            _ = try Listener(group: group, host: "127.0.0.1", port: port) { _ in }
        }
        #expect(error?.name == "EADDRINUSE")
    }

    @Test("open connections are counted and uncounted")
    func openConnectionGauge() async throws {
        let group = EventLoopGroup(count: 1)
        defer { group.shutdown() }
        let accepted = TestSignal<Int64>()
        let gone = TestSignal<Int64>()
        final class Recorder: ByteStreamDelegate {
            let gone: TestSignal<Int64>
            init(gone: TestSignal<Int64>) { self.gone = gone }
            func streamDidRead(_ stream: any ByteStream, bytes: UnsafeRawBufferPointer) { stream.close() }
            func streamDidClose(_ stream: any ByteStream, error: (any Error)?) {
                gone.fulfill(IOMetrics.openConnections.current)
            }
            func streamDidDrain(_ stream: any ByteStream) {}
        }
        let listener = try Listener(group: group, host: "127.0.0.1", port: 0) { stream in
            accepted.fulfill(IOMetrics.openConnections.current)
            stream.delegate = Recorder(gone: gone)
        }
        let outcome = Task { await exchange(on: group.loops[0], port: listener.port, payload: [1, 2]) }
        let during = await accepted.wait()
        let after = await gone.wait()
        _ = await outcome.value
        // Other suites run in parallel, so compare this connection's own step only.
        #expect(during != nil && after != nil)
        #expect((during ?? 0) >= 1)
    }
}
