// Outbound TCP (optionally TLS) connections: numeric hosts connect directly, names are resolved on
// libuv's thread pool with uv_getaddrinfo so the loop never blocks. One timeout covers resolution,
// connect and the TLS handshake.

import CLibUV
import Glibc

/// Opens outbound connections (to the upstream, or in tests).
public enum TCPConnector {
    /// Connects to `host:port` on `loop`, optionally with TLS, and reports the ready stream.
    ///
    /// Must be called on `loop`; `completion` runs on it exactly once.
    /// - Parameters:
    ///   - host: a numeric address or a DNS name; a name's addresses are tried in resolver order until one
    ///     accepts (so `localhost` works whether the server listens on 127.0.0.1 or ::1).
    ///   - tls: when set, a TLS client handshake runs before completion; the stream is a ``TLSStream``.
    ///   - serverName: the name for SNI and certificate verification; defaults to `host`.
    ///   - timeoutMilliseconds: for resolution, connect and handshake together; the failure is an
    ///     `IOError` named `ETIMEDOUT`.
    public static func connect(
        on loop: EventLoop, host: String, port: Int, tls: TLSClientContext? = nil, serverName: String? = nil,
        timeoutMilliseconds: UInt64 = 10_000, completion: @escaping (Result<any ByteStream, any Error>) -> Void
    ) {
        precondition(loop.inEventLoop, "TCPConnector.connect must be called on the target loop")
        let attempt = ConnectAttempt(
            loop: loop, host: host, port: port, tls: tls, serverName: serverName ?? host, completion: completion)
        attempt.start(timeoutMilliseconds: timeoutMilliseconds)
    }
}

/// One connection attempt; keeps itself alive through the retained `data` of its pending requests.
private final class ConnectAttempt {
    let loop: EventLoop
    let host: String
    let port: Int
    let tls: TLSClientContext?
    let serverName: String
    private var completion: ((Result<any ByteStream, any Error>) -> Void)?
    private var timer: TimerHandle?
    private var stream: (any ByteStream)?
    /// Resolved addresses not tried yet.
    private var remaining: [sockaddr_storage] = []

    init(
        loop: EventLoop, host: String, port: Int, tls: TLSClientContext?, serverName: String,
        completion: @escaping (Result<any ByteStream, any Error>) -> Void
    ) {
        self.loop = loop
        self.host = host
        self.port = port
        self.tls = tls
        self.serverName = serverName
        self.completion = completion
    }

    func start(timeoutMilliseconds: UInt64) {
        timer = loop.schedule(afterMilliseconds: timeoutMilliseconds) { [self] in
            finish(.failure(IOError.timedOut("connect \(host):\(port)")))
        }
        if let address = SocketAddress.numeric(host: host, port: port) {
            connect(to: address)
        } else {
            resolve()
        }
    }

    private func resolve() {
        let request = UnsafeMutablePointer<uv_getaddrinfo_t>.allocate(capacity: 1)
        request.pointee.data = Unmanaged.passRetained(self).toOpaque()
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        let rc = uv_getaddrinfo(loop.uv, request, { request, status, result in
            guard let request else { return }
            let attempt = Unmanaged<ConnectAttempt>.fromOpaque(request.pointee.data).takeRetainedValue()
            request.deallocate()
            defer { uv_freeaddrinfo(result) }
            attempt.resolved(status: status, result: result)
        }, host, String(port), &hints)
        if rc != 0 {
            Unmanaged<ConnectAttempt>.fromOpaque(request.pointee.data).release()
            request.deallocate()
            finish(.failure(IOError(rc, "resolve \(host)")))
        }
    }

    private func resolved(status: Int32, result: UnsafeMutablePointer<addrinfo>?) {
        guard completion != nil else { return }  // timed out meanwhile
        var addresses: [sockaddr_storage] = []
        var entry = status == 0 ? result : nil
        while let current = entry {
            if let address = current.pointee.ai_addr {
                var storage = sockaddr_storage()
                let length = min(Int(current.pointee.ai_addrlen), MemoryLayout<sockaddr_storage>.size)
                withUnsafeMutableBytes(of: &storage) { raw in
                    raw.copyMemory(from: UnsafeRawBufferPointer(start: address, count: length))
                }
                addresses.append(storage)
            }
            entry = current.pointee.ai_next
        }
        guard !addresses.isEmpty else {
            finish(.failure(IOError(status == 0 ? UV_EAI_NONAME.rawValue : status, "resolve \(host)")))
            return
        }
        remaining = Array(addresses.dropFirst())
        connect(to: addresses[0])
    }

    private func connect(to address: sockaddr_storage) {
        let remote = address.withSockaddr { SocketAddress($0) } ?? SocketAddress(host: host, port: port)
        let tcp = TCPStream(loop: loop, remoteAddress: remote, connected: false, countsAsClientConnection: false)
        stream = tcp
        let request = UnsafeMutablePointer<uv_connect_t>.allocate(capacity: 1)
        request.pointee.data = Unmanaged.passRetained(self).toOpaque()
        let rc = address.withSockaddr { sockaddr in
            uv_tcp_connect(request, tcp.handle, sockaddr) { request, status in
                guard let request else { return }
                let attempt = Unmanaged<ConnectAttempt>.fromOpaque(request.pointee.data).takeRetainedValue()
                request.deallocate()
                attempt.connected(status: status)
            }
        }
        if rc != 0 {
            Unmanaged<ConnectAttempt>.fromOpaque(request.pointee.data).release()
            request.deallocate()
            finish(.failure(IOError(rc, "connect \(remote)")))
        }
    }

    private func connected(status: Int32) {
        guard completion != nil, let tcp = stream as? TCPStream else { return }
        guard status == 0 else {
            let error = IOError(status, "connect \(tcp.remoteAddress)")
            guard !remaining.isEmpty else { return finish(.failure(error)) }
            // Try the next address; the overall timer keeps running.
            tcp.abort()
            connect(to: remaining.removeFirst())
            return
        }
        tcp.didConnect()
        guard let tls else {
            finish(.success(tcp))
            return
        }
        startTLS(over: tcp, context: tls)
    }

    private func startTLS(over tcp: TCPStream, context: TLSClientContext) {
        do {
            let secure = try TLSStream(client: tcp, context: context, serverName: serverName)
            stream = secure
            secure.onHandshake = { [self] result in
                switch result {
                case .success: finish(.success(secure))
                case .failure(let error): finish(.failure(error))
                }
            }
        } catch {
            finish(.failure(error))
        }
    }

    /// Completes once; a failure or timeout closes whatever was opened.
    private func finish(_ result: Result<any ByteStream, any Error>) {
        guard let completion else { return }
        self.completion = nil
        timer?.cancel()
        timer = nil
        if case .failure = result { stream?.abort() }
        stream = nil
        completion(result)
    }
}
