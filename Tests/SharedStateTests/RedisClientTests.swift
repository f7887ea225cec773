// The Redis client's failure paths without a Redis server: nothing listening, and a peer that accepts the
// connection but never answers (a hung Redis). Behaviour against a real redis-server is tested in
// Tests/GatewayTests/MultiInstance*Tests.swift.

import Dispatch
import Foundation
import GatewayCore
import SMART
import Testing
@testable import SharedState

/// A loopback socket that listens (the kernel completes handshakes) but never reads or writes.
final class SilentServer {
    let fd: Int32
    let port: Int

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                bind(fd, generic, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, generic, &length) == 0
            }
        }
        guard ok else {
            port = 0
            throw RedisFailure("cannot listen")
        }
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    deinit { close(fd) }
}

/// A port with nothing listening (bound, then closed).
func closedPort() throws -> Int {
    let server = try SilentServer()
    return server.port
}

func milliseconds(_ body: () -> Void) -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
}

extension SharedStateStatus {
    var reason: String? {
        if case .unavailable(let reason) = self { return reason }
        return nil
    }
}

@Suite("Redis client failure paths")
struct RedisClientTests {
    @Test("nothing listening: every store answers unavailable at once and the status says why")
    func refused() throws {
        let endpoint = try RedisEndpoint(url: "redis://127.0.0.1:\(try closedPort())")
        let client = RedisClient(endpoint: endpoint, metrics: MetricsRegistry())
        client.maintain()
        guard case .unavailable(let reason) = client.status else {
            Issue.record("status should be unavailable")
            return
        }
        #expect(reason.contains("onnect"))
        let replay = RedisReplayCache(client: client, clock: { 1_000 })
        let limiter = RedisRateLimiter(client: client)
        let elapsed = milliseconds {
            #expect(replay.claim(issuer: "app", jti: "j", expiresAt: 1_100) == .unavailable)
            #expect(limiter.consume(key: "k", limit: 5, window: 60, now: 1_000) == .unavailable)
        }
        #expect(elapsed < 20, "callers never connect, so a dead Redis costs them nothing")
    }

    @Test("a peer that accepts connections but never answers is found by the worker's PING, never by a caller")
    func silentPeer() throws {
        let server = try SilentServer()
        let endpoint = try RedisEndpoint(url: "redis://127.0.0.1:\(server.port)")
        let client = RedisClient(
            endpoint: endpoint, options: RedisClientOptions(deadlineMs: 50, connectTimeoutMs: 100, connections: 2),
            metrics: MetricsRegistry())
        client.maintain()
        guard case .unavailable(let reason) = client.status else {
            Issue.record("a connection nobody answers was taken as available")
            return
        }
        #expect(reason.contains("read"), "the TCP connect succeeds; the PING gets no answer: \(reason)")
        let replay = RedisReplayCache(client: client, clock: { 1_000 })
        var result = ReplayResult.fresh
        let elapsed = milliseconds { result = replay.claim(issuer: "app", jti: "j", expiresAt: 1_100) }
        #expect(result == .unavailable)
        #expect(elapsed < 45, "the caller did not wait out the 50 ms deadline: took \(elapsed) ms")
    }

    @Test("reconnection backs off: attempts during the backoff do not connect")
    func backoff() throws {
        let port = try closedPort()
        let client = RedisClient(
            endpoint: try RedisEndpoint(url: "redis://127.0.0.1:\(port)"),
            options: RedisClientOptions(connections: 1, maxBackoffMs: 1_000), metrics: MetricsRegistry())
        client.maintain()
        // Now something listens, but the client waits out its backoff (50 ms after the first failure): the
        // status still gives the refused connect. After it, the attempt connects (and then finds that the
        // listener never answers the PING).
        let server = try SilentServerOn(port: port)
        client.maintain()
        #expect(client.status.reason?.contains("onnect") == true, "\(client.status)")
        usleep(120_000)
        client.maintain()
        #expect(client.status.reason?.contains("read") == true, "\(client.status)")
        _ = server
    }
}

/// A listening socket on a given port.
final class SilentServerOn {
    let fd: Int32

    init(port: Int) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let ok = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                bind(fd, generic, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 && listen(fd, 16) == 0
            }
        }
        guard ok else { throw RedisFailure("cannot listen on \(port)") }
    }

    deinit { close(fd) }
}
