// A BIO that connects OpenSSL straight to a TLSStream, instead of two memory BIOs:
// - reads take ciphertext from the bytes the raw stream is delivering right now (the loop's read buffer),
//   so nothing is copied before OpenSSL's own record buffer; only input left over while the reader is
//   paused is copied, into the stream's stash;
// - writes hand each record to the raw stream at once (`uv_try_write` for TCP), so no output buffer
//   grows per connection. OpenSSL coalesces handshake flights itself with its buffering BIO.
// Idle TLS connections therefore hold no BIO memory at all (with SSL_MODE_RELEASE_BUFFERS, no record
// buffers either).

import COpenSSL

/// The process-wide BIO method; `BIO_get_data` of each BIO is its TLSStream, unretained (the stream owns
/// the SSL, which owns the BIO, and clears the pointer before freeing it).
enum StreamBIO {
    // nonisolated(unsafe): the method table is built once, never mutated afterwards, and OpenSSL only
    // reads it; BIO_meth_new copies the name.
    nonisolated(unsafe) static let method: OpaquePointer = makeMethod()

    private static func makeMethod() -> OpaquePointer {
        guard let method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "gateway-stream") else {
            fatalError("BIO_meth_new failed: \(TLSError.drainErrorQueue())")
        }
        BIO_meth_set_create(method) { bio in
            BIO_set_init(bio, 1)
            return 1
        }
        BIO_meth_set_read_ex(method) { bio, out, capacity, readBytes in
            StreamBIO.read(bio, out, capacity, readBytes)
        }
        BIO_meth_set_write_ex(method) { bio, input, count, written in
            StreamBIO.write(bio, input, count, written)
        }
        BIO_meth_set_ctrl(method) { _, command, _, _ in
            // Only FLUSH matters (writes are never buffered here); everything else is unsupported.
            command == BIO_CTRL_FLUSH ? 1 : 0
        }
        return method
    }

    /// A new BIO; its stream is attached with `BIO_set_data` once the stream is initialised.
    static func make() -> OpaquePointer {
        guard let bio = BIO_new(method) else { fatalError("BIO_new failed: \(TLSError.drainErrorQueue())") }
        return bio
    }

    private static let retryFlags = BIO_FLAGS_READ | BIO_FLAGS_WRITE | BIO_FLAGS_IO_SPECIAL | BIO_FLAGS_SHOULD_RETRY

    private static func read(
        _ bio: OpaquePointer?, _ out: UnsafeMutablePointer<CChar>?, _ capacity: Int,
        _ readBytes: UnsafeMutablePointer<Int>?
    ) -> Int32 {
        guard let bio, let out, let readBytes else { return 0 }
        BIO_clear_flags(bio, retryFlags)
        guard let data = BIO_get_data(bio) else { return 0 }
        let stream = Unmanaged<TLSStream>.fromOpaque(data).takeUnretainedValue()
        let count = stream.takeCiphertext(into: UnsafeMutableRawBufferPointer(start: out, count: capacity))
        guard count > 0 else {
            BIO_set_flags(bio, BIO_FLAGS_READ | BIO_FLAGS_SHOULD_RETRY)  // "no data yet", not end of stream
            return 0
        }
        readBytes.pointee = count
        return 1
    }

    private static func write(
        _ bio: OpaquePointer?, _ input: UnsafePointer<CChar>?, _ count: Int, _ written: UnsafeMutablePointer<Int>?
    ) -> Int32 {
        guard let bio, let input, let written else { return 0 }
        BIO_clear_flags(bio, retryFlags)
        guard let data = BIO_get_data(bio) else { return 0 }
        let stream = Unmanaged<TLSStream>.fromOpaque(data).takeUnretainedValue()
        // The raw stream accepts everything (it queues what the kernel does not take).
        stream.raw.write(contentsOf: UnsafeRawBufferPointer(start: input, count: count))
        written.pointee = count
        return 1
    }
}
