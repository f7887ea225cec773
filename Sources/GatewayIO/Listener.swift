// A TCP listener on every loop of a group: one SO_REUSEPORT socket per loop, so the kernel spreads
// incoming connections across loops and each connection stays on the loop that accepted it.
// libuv 1.44 has no UV_TCP_REUSEPORT, so the sockets are created and bound here and handed to libuv
// with `uv_tcp_open` (C-INTEROP pitfall 11).

import CLibUV
import Dispatch
import Glibc

/// Accepts TCP connections for `host:port` on every loop of a group.
public final class Listener: Sendable {
    /// The bound address; `port` is the real port when 0 was requested.
    public let address: SocketAddress
    private let sockets: [ListenSocket]

    /// The bound port.
    public var port: Int { address.port }

    /// Binds `host:port` (numeric host; port 0 picks a free port) on every loop of `group` and starts accepting.
    ///
    /// - Parameters:
    ///   - backlog: the kernel accept queue length per loop.
    ///   - tls: when set, each connection is wrapped in a server ``TLSStream`` before `onAccept` sees it;
    ///     its delegate receives plaintext once the handshake completed (failures close the stream).
    ///   - onAccept: called on the accepting loop with each new connection (TCP_NODELAY set). Set the
    ///     stream's delegate before returning; reading starts once a delegate is set.
    /// - Throws: `IOError` when the address is not numeric or a socket cannot be bound or listened on.
    /// - Note: blocks until every loop is listening; call it during start-up or reload, not on a hot path.
    public init(
        group: EventLoopGroup, host: String, port: Int, backlog: Int32 = 1024, tls: TLSServerContext? = nil,
        onAccept: @escaping @Sendable (any ByteStream) -> Void
    ) throws {
        guard var storage = SocketAddress.numeric(host: host, port: port) else {
            throw IOError(UV_EINVAL.rawValue, "listen: host \(host) is not a numeric address")
        }
        var descriptors: [Int32] = []
        do {
            for _ in group.loops {
                let fd = try Self.boundSocket(&storage)
                descriptors.append(fd)
            }
        } catch {
            for fd in descriptors { Glibc.close(fd) }
            throw error
        }
        address = SocketAddress(host: host, port: Self.port(of: storage))
        sockets = zip(group.loops, descriptors).map { ListenSocket(loop: $0, fd: $1, tls: tls, onAccept: onAccept) }
        try startAll(backlog: backlog)
    }

    /// Creates, configures and binds one socket; after the first bind, `storage` carries the real port.
    private static func boundSocket(_ storage: inout sockaddr_storage) throws -> Int32 {
        let fd = socket(Int32(storage.ss_family), Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw IOError(-errno, "socket") }
        var one: Int32 = 1
        let size = socklen_t(MemoryLayout<Int32>.size)
        guard setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, size) == 0,
              setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, size) == 0
        else {
            let code = -errno
            Glibc.close(fd)
            throw IOError(code, "setsockopt")
        }
        let length = socketLength(of: storage)
        guard storage.withSockaddr({ bind(fd, $0, length) }) == 0 else {
            let code = -errno
            Glibc.close(fd)
            throw IOError(code, "bind")
        }
        // With port 0 the kernel picked one; the sibling sockets must bind the same port.
        var actual = sockaddr_storage()
        var actualLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        withUnsafeMutableBytes(of: &actual) { raw in
            _ = getsockname(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &actualLength)
        }
        storage = actual
        return fd
    }

    private static func port(of storage: sockaddr_storage) -> Int {
        storage.withSockaddr { SocketAddress($0)?.port ?? 0 }
    }

    /// Opens each socket in libuv on its own loop and waits for all of them.
    private func startAll(backlog: Int32) throws {
        let results = sockets.map { socket in
            let result = ResultBox()
            socket.loop.runAndWait { result.code = socket.start(backlog: backlog) }
            return result.code
        }
        if let failed = results.first(where: { $0 != 0 }) {
            close()
            throw IOError(failed, "listen")
        }
    }

    /// Stops accepting on every loop (for draining); open connections are unaffected.
    ///
    /// Thread-safe. `completion` runs (on an arbitrary thread) once every loop has closed its socket.
    public func close(completion: (@Sendable () -> Void)? = nil) {
        let remaining = DispatchGroup()
        for socket in sockets {
            remaining.enter()
            socket.loop.execute {
                socket.close()
                remaining.leave()
            }
        }
        if let completion { remaining.notify(queue: .global(), execute: completion) }
    }
}

/// Carries a status code out of a loop for `runAndWait`.
private final class ResultBox: @unchecked Sendable {
    // @unchecked Sendable: written on the loop before `runAndWait` returns; read after (semaphore-ordered).
    var code: Int32 = 0
}

extension EventLoop {
    /// Runs `work` on this loop and waits for it; runs inline when already on this loop.
    func runAndWait(_ work: @escaping @Sendable () -> Void) {
        if inEventLoop {
            work()
            return
        }
        let done = DispatchSemaphore(value: 0)
        execute {
            work()
            done.signal()
        }
        done.wait()
    }
}

/// One loop's listening socket.
final class ListenSocket: LoopHandleOwner, @unchecked Sendable {
    // @unchecked Sendable: `handle` and `open` are touched only on `loop` (start/close run via execute).
    let loop: EventLoop
    private let fd: Int32
    private let onAccept: @Sendable (any ByteStream) -> Void
    private let tls: TLSServerContext?
    private var handle: UnsafeMutablePointer<uv_tcp_t>?

    init(loop: EventLoop, fd: Int32, tls: TLSServerContext?, onAccept: @escaping @Sendable (any ByteStream) -> Void) {
        self.loop = loop
        self.fd = fd
        self.tls = tls
        self.onAccept = onAccept
    }

    /// Hands the socket to libuv and listens; returns a libuv status.
    func start(backlog: Int32) -> Int32 {
        let tcp = UnsafeMutablePointer<uv_tcp_t>.allocate(capacity: 1)
        uv_tcp_init(loop.uv, tcp)
        LoopHandle.attach(self, to: LoopHandle.base(tcp))
        handle = tcp
        let opened = uv_tcp_open(tcp, fd)
        if opened != 0 {
            Glibc.close(fd)  // libuv did not take ownership
            close()
            return opened
        }
        let rc = uv_listen(LoopHandle.stream(tcp), backlog) { server, status in
            guard let server, let data = server.pointee.data, status == 0 else { return }
            Unmanaged<ListenSocket>.fromOpaque(data).takeUnretainedValue().acceptOne(server)
        }
        if rc != 0 { close() }
        return rc
    }

    private func acceptOne(_ server: UnsafeMutablePointer<uv_stream_t>) {
        let unknown = SocketAddress(host: "", port: 0)
        let stream = TCPStream(loop: loop, remoteAddress: unknown, connected: true, countsAsClientConnection: true)
        guard uv_accept(server, stream.stream) == 0 else {
            stream.abort()
            return
        }
        uv_tcp_nodelay(stream.handle, 1)
        var peer = sockaddr_storage()
        var length = Int32(MemoryLayout<sockaddr_storage>.size)
        withUnsafeMutableBytes(of: &peer) { raw in
            let address = raw.baseAddress!.assumingMemoryBound(to: sockaddr.self)
            if uv_tcp_getpeername(stream.handle, address, &length) == 0, let parsed = SocketAddress(address) {
                stream.remoteAddress = parsed
            }
        }
        if let tls {
            onAccept(TLSStream(server: stream, context: tls))
        } else {
            onAccept(stream)
        }
    }

    func close() {
        guard let handle else { return }
        LoopHandle.close(LoopHandle.base(handle))
    }

    func handleDidClose() {
        handle?.deallocate()
        handle = nil
    }
}
