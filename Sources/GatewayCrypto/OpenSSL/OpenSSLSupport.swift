// Small helpers around OpenSSL: the error queue, memory BIOs and big numbers. Every owned C object here
// is freed on every path (defer), and every failure drains the error queue (STYLE habit 12).

import COpenSSL

enum OpenSSL {
    /// Pops every pending error of this thread, oldest first.
    static func drainErrors() -> [String] {
        var messages: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            messages.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return messages
    }

    /// An error for a failed OpenSSL call, with the drained queue.
    static func failure(_ operation: String, _ reason: String) -> CryptoError {
        CryptoError(operation, reason, openSSLErrors: drainErrors())
    }

    /// Clears stale errors before an operation whose failure is an expected outcome (verification).
    static func clearErrors() { ERR_clear_error() }

    /// Runs `body` with a read-only memory BIO over a copy of `bytes`; BIO and copy are freed afterwards.
    static func withReadBIO<T>(
        _ bytes: [UInt8], _ operation: String, _ body: (OpaquePointer) throws(CryptoError) -> T
    ) throws(CryptoError) -> T {
        // BIO_new_mem_buf does not copy, so the buffer it reads is owned here and outlives the BIO.
        let copy = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(bytes.count, 1))
        defer { copy.deallocate() }
        _ = copy.initialize(from: bytes)
        guard let bio = BIO_new_mem_buf(copy.baseAddress, Int32(bytes.count)) else {
            throw failure(operation, "cannot allocate BIO")
        }
        defer { BIO_free(bio) }
        return try body(bio)
    }

    /// Runs `write` against a fresh memory BIO and returns everything written to it.
    static func writtenBytes(_ operation: String, _ write: (OpaquePointer) -> Int32) throws(CryptoError) -> [UInt8] {
        guard let bio = BIO_new(BIO_s_mem()) else { throw failure(operation, "cannot allocate BIO") }
        defer { BIO_free(bio) }
        guard write(bio) == 1 else { throw failure(operation, "write failed") }
        var pointer: UnsafeMutablePointer<CChar>?
        let length = COpenSSL_BIO_get_mem_data(bio, &pointer)
        guard length > 0, let pointer else { throw failure(operation, "nothing written") }
        return pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
            Array(UnsafeBufferPointer(start: $0, count: length))
        }
    }

    /// A BIGNUM from unsigned big-endian bytes; the caller frees it.
    static func bignum(_ bytes: [UInt8], _ operation: String) throws(CryptoError) -> OpaquePointer {
        let made = bytes.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, Int32($0.count), nil) }
        guard let bn = made else { throw failure(operation, "cannot allocate BIGNUM") }
        return bn
    }

    /// Unsigned big-endian bytes of a BIGNUM, left-padded to `length` (or minimal when `length` is nil).
    static func bytes(of bn: OpaquePointer, length: Int? = nil) -> [UInt8]? {
        let minimal = Int((BN_num_bits(bn) + 7) / 8)
        let count = length ?? minimal
        guard count >= minimal else { return nil }
        var out = [UInt8](repeating: 0, count: count)
        let written = out.withUnsafeMutableBufferPointer { BN_bn2binpad(bn, $0.baseAddress, Int32(count)) }
        return written == Int32(count) ? out : nil
    }

    /// The message digest for a hash; static objects owned by OpenSSL.
    static func digest(_ hash: HashAlgorithm) -> OpaquePointer? {
        switch hash {
        case .sha256: EVP_sha256()
        case .sha384: EVP_sha384()
        case .sha512: EVP_sha512()
        }
    }
}
