// TLS over any `ByteStream`. OpenSSL reads and writes through a `StreamBIO`: ciphertext comes straight
// from the raw stream's current read and records go straight to the raw stream. The raw stream's
// delegate is this object; the user's delegate sees plaintext only.
//
// Plaintext is decrypted into the loop's shared buffer (consumed synchronously by the delegate) and
// written in records of at most 16 KiB, so neither direction allocates per read.

import COpenSSL
import GatewayCore

/// A TLS connection over a raw byte stream (server or client side). It is itself a `ByteStream`.
public final class TLSStream: ByteStream {
    /// The stream carrying ciphertext.
    public let raw: any ByteStream
    /// The raw stream's loop.
    public var eventLoop: EventLoop { raw.eventLoop }
    /// The raw stream's peer.
    public var remoteAddress: SocketAddress { raw.remoteAddress }
    /// Set once the handshake completed.
    public private(set) var tlsInfo: TLSConnectionInfo?
    /// Ciphertext queued on the raw stream plus plaintext waiting for the handshake.
    public var pendingWriteBytes: Int { raw.pendingWriteBytes + earlyWrites.count }

    /// Strong while open; cleared after `streamDidClose` (see `ByteStreamDelegate`).
    public var delegate: (any ByteStreamDelegate)? {
        didSet { if delegate != nil { deliverBufferedPlaintext() } }
    }

    /// Called once when the handshake finished or failed, before any plaintext is delivered.
    public var onHandshake: ((Result<TLSConnectionInfo, TLSError>) -> Void)?

    private let ssl: OpaquePointer
    private let bio: OpaquePointer
    /// Keeps the context's Swift side (the ALPN list its callback reads) alive for this connection, even
    /// after a reload replaced the context for new connections.
    private let context: SSLContextBox
    /// The ciphertext being delivered by the raw stream right now (valid only during that call).
    private var input = UnsafeRawBufferPointer(start: nil, count: 0)
    /// Ciphertext left over when a delivery ended before OpenSSL consumed it (reader paused).
    private var stash: [UInt8] = []
    private var stashOffset = 0
    private var state: State = .handshaking
    private var earlyWrites: [UInt8] = []
    private var readPaused = false
    private var delivering = false
    private var closeError: (any Error)?
    private var handshakeTimer: TimerHandle?

    private enum State { case handshaking, open, closing, closed }

    /// The largest plaintext record (RFC 8446 §5.1).
    private static let recordSize = 16 * 1024

    /// Wraps an accepted connection as the TLS server. Must be called on the stream's loop.
    ///
    /// The handshake starts when the client's first bytes arrive; a handshake still running after the
    /// context's timeout closes the connection and counts as a failed handshake.
    public convenience init(server raw: any ByteStream, context: TLSServerContext) {
        self.init(raw: raw, context: context.contextBox)
        SSL_set_accept_state(ssl)
        armHandshakeTimer(context.handshakeTimeoutMilliseconds)
        raw.delegate = self
    }

    /// Wraps a connected stream as the TLS client and sends the ClientHello. Must be called on the stream's loop.
    ///
    /// - Parameters:
    ///   - serverName: sent as SNI (when it is a DNS name, RFC 6066 §3) and verified against the server's
    ///     certificate (DNS name or IP address) when the context verifies peers.
    ///   - handshakeTimeoutMilliseconds: 0 for none (the connector has its own overall timeout).
    /// - Throws: `TLSError` when the name cannot be set.
    /// - Warning: a nil `serverName` verifies only the chain, not the host name; `TCPConnector` always
    ///   passes one.
    public convenience init(
        client raw: any ByteStream, context: TLSClientContext, serverName: String?,
        handshakeTimeoutMilliseconds: UInt64 = 0
    ) throws {
        self.init(raw: raw, context: context.box)
        SSL_set_connect_state(ssl)
        if let serverName { try configureClientName(serverName, verify: context.verifyPeer) }
        armHandshakeTimer(handshakeTimeoutMilliseconds)
        raw.delegate = self
        advanceHandshake()
    }

    private init(raw: any ByteStream, context: SSLContextBox) {
        self.raw = raw
        self.context = context
        ERR_clear_error()
        // Allocation failure here means the process is out of memory; nothing sensible remains to do.
        guard let ssl = SSL_new(context.context) else {
            fatalError("SSL_new failed: \(TLSError.drainErrorQueue())")
        }
        self.ssl = ssl
        bio = StreamBIO.make()
        BIO_set_data(bio, Unmanaged.passUnretained(self).toOpaque())
        SSL_set_bio(ssl, bio, bio)  // one BIO for both directions; the SSL now owns it
    }

    deinit {
        handshakeTimer?.cancel()
        BIO_set_data(bio, nil)  // no callback may reach a deinitialising stream
        SSL_free(ssl)
    }

    /// Copies up to `out.count` bytes of pending ciphertext for OpenSSL; 0 when there is none yet.
    func takeCiphertext(into out: UnsafeMutableRawBufferPointer) -> Int {
        if stashOffset < stash.count {
            let count = min(out.count, stash.count - stashOffset)
            let start = stashOffset
            stash.withUnsafeBytes { out.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[start..<start + count])) }
            stashOffset += count
            if stashOffset == stash.count {
                stash = []  // give the memory back; stashing only happens while paused
                stashOffset = 0
            }
            return count
        }
        let count = min(out.count, input.count)
        guard count > 0, let base = input.baseAddress else { return 0 }
        out.copyMemory(from: UnsafeRawBufferPointer(start: base, count: count))
        input = UnsafeRawBufferPointer(rebasing: input[count...])
        return count
    }

    private func configureClientName(_ name: String, verify: Bool) throws {
        let isIPAddress = SocketAddress.numeric(host: name, port: 0) != nil
        if !isIPAddress {
            guard COpenSSL_set_tlsext_host_name(ssl, name) == 1 else { throw TLSError.drained("set SNI \(name)") }
        }
        guard verify else { return }
        let bare = name.hasPrefix("[") && name.hasSuffix("]") ? String(name.dropFirst().dropLast()) : name
        let ok = isIPAddress
            ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), bare) : SSL_set1_host(ssl, name)
        guard ok == 1 else { throw TLSError.drained("set expected peer name \(name)") }
    }

    private func armHandshakeTimer(_ milliseconds: UInt64) {
        guard milliseconds > 0 else { return }
        handshakeTimer = eventLoop.schedule(afterMilliseconds: milliseconds) { [weak self] in
            self?.handshakeFailed(TLSError.handshakeTimedOut())
        }
    }

    // MARK: - Handshake

    private func advanceHandshake() {
        ERR_clear_error()
        let result = SSL_do_handshake(ssl)
        if result == 1 {
            handshakeSucceeded()
            return
        }
        switch SSL_get_error(ssl, result) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: return
        default: handshakeFailed(TLSError.drained("handshake"))
        }
    }

    private func handshakeSucceeded() {
        handshakeTimer?.cancel()
        handshakeTimer = nil
        let info = connectionInfo()
        tlsInfo = info
        state = .open
        IOMetrics.handshakes(version: info.protocolVersion).increment()
        onHandshake?(.success(info))
        onHandshake = nil
        if !earlyWrites.isEmpty {
            let pending = earlyWrites
            earlyWrites = []
            pending.withUnsafeBytes { write(contentsOf: $0) }
        }
    }

    private func handshakeFailed(_ error: TLSError) {
        guard state == .handshaking else { return }
        handshakeTimer?.cancel()
        handshakeTimer = nil
        IOMetrics.handshakeFailures.increment()
        state = .closed
        closeError = error
        onHandshake?(.failure(error))
        onHandshake = nil
        raw.close()  // sends the alert OpenSSL queued, if any
    }

    private func connectionInfo() -> TLSConnectionInfo {
        var alpnPointer: UnsafePointer<UInt8>?
        var alpnLength: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &alpnPointer, &alpnLength)
        let alpn = alpnPointer.map {
            String(decoding: UnsafeBufferPointer(start: $0, count: Int(alpnLength)), as: UTF8.self)
        }
        let serverName = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name).map { String(cString: $0) }
        return TLSConnectionInfo(
            protocolVersion: String(cString: SSL_get_version(ssl)), alpn: alpn, serverName: serverName,
            peerSubject: verifiedPeerSubject())
    }

    /// The RFC 2253 subject of the peer's certificate when it was presented and verified.
    private func verifiedPeerSubject() -> String? {
        guard SSL_get_verify_result(ssl) == X509_V_OK, let peer = SSL_get0_peer_certificate(ssl),
              let name = X509_get_subject_name(peer), let bio = BIO_new(BIO_s_mem())
        else { return nil }
        defer { BIO_free(bio) }
        guard X509_NAME_print_ex(bio, name, 0, COpenSSL_XN_FLAG_RFC2253) >= 0 else {
            ERR_clear_error()  // nothing to report, but nothing may stay queued either
            return nil
        }
        var data: UnsafeMutablePointer<CChar>?
        let length = COpenSSL_BIO_get_mem_data(bio, &data)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
    }

    // MARK: - Reading

    /// Stops decrypting and stops reading ciphertext (backpressure).
    public func pauseReading() {
        readPaused = true
        raw.pauseReading()
    }

    /// Delivers plaintext OpenSSL already buffered, then reads ciphertext again.
    public func resumeReading() {
        readPaused = false
        raw.resumeReading()
        deliverBufferedPlaintext()
    }

    /// Ciphertext arrived: let OpenSSL read it through the BIO while the buffer is valid, keep the rest.
    fileprivate func receivedCiphertext(_ bytes: UnsafeRawBufferPointer) {
        guard state == .handshaking || state == .open, !bytes.isEmpty else { return }
        input = bytes
        if state == .handshaking { advanceHandshake() }
        if state == .open { deliverBufferedPlaintext() }
        if !input.isEmpty && (state == .handshaking || state == .open) {
            stash.append(contentsOf: input)
        }
        input = UnsafeRawBufferPointer(start: nil, count: 0)
    }

    /// Decrypts and delivers records until OpenSSL needs more input or the delegate pauses.
    private func deliverBufferedPlaintext() {
        guard state == .open, !delivering, delegate != nil else { return }
        delivering = true
        defer { delivering = false }
        let buffer = eventLoop.plaintextBuffer
        while state == .open, !readPaused, let delegate {
            var count = 0
            ERR_clear_error()
            let result = SSL_read_ex(ssl, buffer.baseAddress, buffer.count, &count)
            if result == 1 {
                delegate.streamDidRead(self, bytes: UnsafeRawBufferPointer(rebasing: buffer[..<count]))
                continue
            }
            readFailed(SSL_get_error(ssl, result))
            break
        }
    }

    private func readFailed(_ code: Int32) {
        switch code {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return
        case SSL_ERROR_ZERO_RETURN:
            close()  // the peer sent close_notify; answer with ours
        default:
            fail(TLSError.drained("read"))
        }
    }

    // MARK: - Writing

    /// Encrypts and writes `bytes` (queued until the handshake completed).
    public func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { write(contentsOf: $0) }
    }

    /// Encrypts a copy of `bytes` in records of at most 16 KiB (queued until the handshake completed).
    public func write(contentsOf bytes: UnsafeRawBufferPointer) {
        switch state {
        case .handshaking:
            earlyWrites.append(contentsOf: bytes)
        case .open:
            encrypt(bytes)
        case .closing, .closed:
            return
        }
    }

    private func encrypt(_ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < bytes.count {
            let chunk = UnsafeRawBufferPointer(rebasing: bytes[offset..<min(bytes.count, offset + Self.recordSize)])
            var written = 0
            ERR_clear_error()
            guard SSL_write_ex(ssl, chunk.baseAddress, chunk.count, &written) == 1 else {
                fail(TLSError.drained("write"))
                return
            }
            offset += written
        }
    }

    // MARK: - Closing

    /// Sends close_notify (after an established handshake), flushes and closes the raw stream.
    public func close() {
        switch state {
        case .open:
            state = .closing
            ERR_clear_error()
            _ = SSL_shutdown(ssl)
            ERR_clear_error()  // a one-sided shutdown is expected to leave nothing useful here
            raw.close()
        case .handshaking:
            state = .closing
            raw.close()
        case .closing, .closed:
            return
        }
    }

    /// Closes the raw stream at once, without close_notify.
    public func abort() {
        guard state != .closed else { return }
        state = .closed
        raw.abort()
    }

    private func fail(_ error: any Error) {
        if closeError == nil { closeError = error }
        abort()
    }

    /// The raw stream finished: report once to our delegate and drop it.
    fileprivate func rawDidClose(error: (any Error)?) {
        if state == .handshaking {
            // The peer went away mid-handshake (or sent garbage that closed the raw stream).
            handshakeFailed(TLSError.drained("handshake (connection closed)"))
        }
        state = .closed
        handshakeTimer?.cancel()
        handshakeTimer = nil
        let delegate = self.delegate
        self.delegate = nil
        delegate?.streamDidClose(self, error: closeError ?? error)
    }

    fileprivate func rawDidDrain() {
        guard state == .open, earlyWrites.isEmpty else { return }
        delegate?.streamDidDrain(self)
    }
}

/// The TLS stream is its raw stream's delegate; these are not for other callers.
extension TLSStream: ByteStreamDelegate {
    /// Raw side only: ciphertext from the network.
    public func streamDidRead(_ stream: any ByteStream, bytes: UnsafeRawBufferPointer) {
        receivedCiphertext(bytes)
    }

    /// Raw side only: the network connection ended.
    public func streamDidClose(_ stream: any ByteStream, error: (any Error)?) {
        rawDidClose(error: error)
    }

    /// Raw side only: queued ciphertext reached the kernel.
    public func streamDidDrain(_ stream: any ByteStream) {
        rawDidDrain()
    }
}
