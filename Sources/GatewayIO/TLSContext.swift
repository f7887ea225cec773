// TLS configuration objects. An `SSL_CTX` is configured once and then only used to create connections
// (`SSL_new`), which OpenSSL allows from any thread; each `SSL` takes its own reference to its context,
// so a reload can swap in a new context while connections on the old one finish undisturbed.

import COpenSSL
import Synchronization

/// The lowest or highest TLS version a context allows.
public enum TLSVersion: Sendable {
    case tls12, tls13

    var openSSLValue: Int32 { self == .tls12 ? TLS1_2_VERSION : TLS1_3_VERSION }
}

/// Owns one configured `SSL_CTX` and the ALPN wire list its callback reads.
final class SSLContextBox: @unchecked Sendable {
    // @unchecked Sendable: the context and `alpnWire` are immutable after configuration; OpenSSL makes
    // SSL_new on a configured SSL_CTX thread-safe (the context's reference count is atomic).
    let context: OpaquePointer
    let alpnWire: UnsafeMutableBufferPointer<UInt8>

    /// Takes ownership of `context` (freed in deinit).
    init(taking context: OpaquePointer, alpn: [String]) throws {
        self.context = context
        let wire = try Self.wireFormat(alpn)
        alpnWire = .allocate(capacity: max(1, wire.count))
        _ = alpnWire.initialize(from: wire)
    }

    deinit {
        SSL_CTX_free(context)
        alpnWire.deallocate()
    }

    /// Length-prefixed protocol names (RFC 7301 §3.1).
    static func wireFormat(_ protocols: [String]) throws -> [UInt8] {
        var wire: [UInt8] = []
        for name in protocols {
            let bytes = Array(name.utf8)
            guard (1...255).contains(bytes.count) else {
                let problem = "configure ALPN: protocol name '\(name)' must be 1-255 bytes"
                throw TLSError(operation: problem, openSSLErrors: [])
            }
            wire.append(UInt8(bytes.count))
            wire += bytes
        }
        return wire
    }

    /// Runs an OpenSSL configuration call that returns 1 on success; throws with the drained queue otherwise.
    static func check(_ result: Int32, _ operation: @autoclosure () -> String) throws {
        guard result == 1 else { throw TLSError.drained(operation()) }
    }
}

/// Server-side TLS settings for a listener: certificate chain, key, ALPN list and optional client CAs.
///
/// TLS 1.2 is the minimum; renegotiation and compression are off and the server's cipher order wins.
/// `reload()` swaps the certificate for new connections without a restart.
public final class TLSServerContext: Sendable {
    private struct Current {
        var box: SSLContextBox
        var certificateChainFile: String
        var privateKeyFile: String
    }

    /// ALPN protocols in server preference order, e.g. `["h2", "http/1.1"]`.
    public let alpn: [String]
    /// PEM bundle of CAs that client certificates must chain to; nil disables client certificates.
    public let clientCAFile: String?
    /// A connection whose handshake has not finished after this long is closed (and counted as failed).
    public let handshakeTimeoutMilliseconds: UInt64
    private let minimumVersion: TLSVersion
    private let current: Mutex<Current>

    /// Loads the certificate chain and key and builds the context.
    ///
    /// - Parameters:
    ///   - certificateChainFile: PEM, leaf first, then intermediates.
    ///   - privateKeyFile: PEM private key matching the leaf.
    ///   - alpn: protocols offered, in server preference order; a client offering none of them gets a
    ///     `no_application_protocol` alert (RFC 7301 §3.2). Empty disables ALPN.
    ///   - clientCAFile: when set, clients must present a certificate chaining to one of these CAs.
    /// - Throws: `TLSError` naming the file that failed, with the OpenSSL error queue.
    /// - Note: reads files; do not call on an event loop.
    public init(
        certificateChainFile: String, privateKeyFile: String, alpn: [String] = ["http/1.1"],
        clientCAFile: String? = nil, minimumVersion: TLSVersion = .tls12, handshakeTimeoutMilliseconds: UInt64 = 10_000
    ) throws {
        self.alpn = alpn
        self.clientCAFile = clientCAFile
        self.minimumVersion = minimumVersion
        self.handshakeTimeoutMilliseconds = handshakeTimeoutMilliseconds
        let box = try Self.build(
            chain: certificateChainFile, key: privateKeyFile, alpn: alpn, clientCA: clientCAFile,
            minimum: minimumVersion)
        current = Mutex(Current(box: box, certificateChainFile: certificateChainFile, privateKeyFile: privateKeyFile))
    }

    /// Re-reads the certificate chain and key (optionally from new paths) and uses them for new connections.
    ///
    /// Thread-safe. Connections already established keep their certificate.
    /// - Throws: `TLSError` when the new files do not load; the previous certificate stays in use.
    public func reload(certificateChainFile: String? = nil, privateKeyFile: String? = nil) throws {
        let (chain, key) = current.withLock { ($0.certificateChainFile, $0.privateKeyFile) }
        let newChain = certificateChainFile ?? chain
        let newKey = privateKeyFile ?? key
        let box = try Self.build(
            chain: newChain, key: newKey, alpn: alpn, clientCA: clientCAFile, minimum: minimumVersion)
        current.withLock { $0 = Current(box: box, certificateChainFile: newChain, privateKeyFile: newKey) }
    }

    /// The context new connections use.
    var contextBox: SSLContextBox { current.withLock { $0.box } }

    private static func build(
        chain: String, key: String, alpn: [String], clientCA: String?, minimum: TLSVersion
    ) throws -> SSLContextBox {
        ERR_clear_error()
        guard let ctx = SSL_CTX_new(TLS_server_method()) else { throw TLSError.drained("create server context") }
        let box = try SSLContextBox(taking: ctx, alpn: alpn)
        try SSLContextBox.check(COpenSSL_CTX_set_min_proto_version(ctx, minimum.openSSLValue), "set minimum version")
        // Idle keep-alive connections then hold no record buffers (as nginx configures OpenSSL).
        _ = COpenSSL_CTX_set_mode(ctx, Int(SSL_MODE_RELEASE_BUFFERS))
        _ = SSL_CTX_set_options(
            ctx, COpenSSL_OP_ALL | COpenSSL_OP_NO_RENEGOTIATION | COpenSSL_OP_NO_COMPRESSION
                | COpenSSL_OP_CIPHER_SERVER_PREFERENCE)
        try SSLContextBox.check(SSL_CTX_use_certificate_chain_file(ctx, chain), "load certificate chain \(chain)")
        try SSLContextBox.check(SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM), "load private key \(key)")
        try SSLContextBox.check(SSL_CTX_check_private_key(ctx), "match private key \(key) to certificate \(chain)")
        let sessionID = Array("pdmp-gateway".utf8)
        try SSLContextBox.check(SSL_CTX_set_session_id_context(ctx, sessionID, UInt32(sessionID.count)), "session id")
        if !alpn.isEmpty {
            SSL_CTX_set_alpn_select_cb(ctx, selectALPN, Unmanaged.passUnretained(box).toOpaque())
        }
        if let clientCA { try requireClientCertificates(ctx, caFile: clientCA) }
        return box
    }

    private static func requireClientCertificates(_ ctx: OpaquePointer, caFile: String) throws {
        try SSLContextBox.check(SSL_CTX_load_verify_locations(ctx, caFile, nil), "load client CA file \(caFile)")
        guard let names = SSL_load_client_CA_file(caFile) else {
            throw TLSError.drained("read client CA names \(caFile)")
        }
        SSL_CTX_set_client_CA_list(ctx, names)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nil)
    }
}

/// ALPN selection with server preference: the first protocol of our list that the client also offered.
private let selectALPN: @convention(c) (
    OpaquePointer?, UnsafeMutablePointer<UnsafePointer<UInt8>?>?, UnsafeMutablePointer<UInt8>?,
    UnsafePointer<UInt8>?, UInt32, UnsafeMutableRawPointer?
) -> Int32 = { _, out, outLength, offered, offeredLength, arg in
    guard let out, let outLength, let offered, let arg else { return SSL_TLSEXT_ERR_NOACK }
    let box = Unmanaged<SSLContextBox>.fromOpaque(arg).takeUnretainedValue()
    var selected: UnsafeMutablePointer<UInt8>?
    var selectedLength: UInt8 = 0
    let result = SSL_select_next_proto(
        &selected, &selectedLength, box.alpnWire.baseAddress, UInt32(box.alpnWire.count), offered, offeredLength)
    guard result == OPENSSL_NPN_NEGOTIATED, let selected else {
        return SSL_TLSEXT_ERR_ALERT_FATAL  // RFC 7301 §3.2: no_application_protocol
    }
    out.pointee = UnsafePointer(selected)
    outLength.pointee = selectedLength
    return SSL_TLSEXT_ERR_OK
}

// TODO(#2): cache client sessions for upstream resumption; the keep-alive pool keeps full handshakes rare.
/// Client-side TLS settings for upstream connections and tests.
public final class TLSClientContext: Sendable {
    let box: SSLContextBox
    /// Whether the server's certificate chain and host name are verified (only a test may turn this off).
    public let verifyPeer: Bool

    /// Builds a client context.
    ///
    /// - Parameters:
    ///   - caFile: PEM bundle of trusted CAs; nil uses the system store.
    ///   - verifyPeer: verify the chain and the host name (RFC 6125); false is for tests only.
    ///   - alpn: protocols offered, in preference order. Empty offers none.
    ///   - maximumVersion: the highest version offered (tests pin TLS 1.2 with it).
    ///   - certificateChainFile: a client certificate chain (PEM) for mutual TLS; needs `privateKeyFile`.
    ///   - privateKeyFile: the key of that certificate (PEM).
    /// - Throws: `TLSError` when the CA file or the client certificate does not load.
    public init(
        caFile: String?, verifyPeer: Bool = true, alpn: [String] = ["http/1.1"], maximumVersion: TLSVersion = .tls13,
        certificateChainFile: String? = nil, privateKeyFile: String? = nil
    ) throws {
        ERR_clear_error()
        guard let ctx = SSL_CTX_new(TLS_client_method()) else { throw TLSError.drained("create client context") }
        box = try SSLContextBox(taking: ctx, alpn: alpn)
        self.verifyPeer = verifyPeer
        try SSLContextBox.check(COpenSSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION), "set minimum version")
        _ = COpenSSL_CTX_set_mode(ctx, Int(SSL_MODE_RELEASE_BUFFERS))
        try SSLContextBox.check(
            COpenSSL_CTX_set_max_proto_version(ctx, maximumVersion.openSSLValue), "set maximum version")
        _ = SSL_CTX_set_options(ctx, COpenSSL_OP_ALL | COpenSSL_OP_NO_RENEGOTIATION | COpenSSL_OP_NO_COMPRESSION)
        if let caFile {
            try SSLContextBox.check(SSL_CTX_load_verify_locations(ctx, caFile, nil), "load CA file \(caFile)")
        } else {
            try SSLContextBox.check(SSL_CTX_set_default_verify_paths(ctx), "load system CA store")
        }
        SSL_CTX_set_verify(ctx, verifyPeer ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nil)
        if let chain = certificateChainFile, let key = privateKeyFile {
            try SSLContextBox.check(SSL_CTX_use_certificate_chain_file(ctx, chain), "load client certificate \(chain)")
            try SSLContextBox.check(SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM), "load client key \(key)")
            try SSLContextBox.check(SSL_CTX_check_private_key(ctx), "match client key \(key) to \(chain)")
        }
        if !alpn.isEmpty {
            // Unlike most OpenSSL calls, 0 means success here.
            guard SSL_CTX_set_alpn_protos(ctx, box.alpnWire.baseAddress, UInt32(box.alpnWire.count)) == 0 else {
                throw TLSError.drained("set ALPN protocols")
            }
        }
    }
}
