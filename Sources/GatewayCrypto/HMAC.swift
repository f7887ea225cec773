// HMAC-SHA-256 (RFC 2104), for keyed hashes such as cache keys that must not be guessable.

import COpenSSL

/// Keyed message authentication.
public enum HMAC {
    /// HMAC-SHA-256 of `message` under `key` (32 bytes).
    public static func sha256(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let result = key.withUnsafeBytes { k in
            message.withUnsafeBufferPointer { m in
                output.withUnsafeMutableBufferPointer { o in
                    COpenSSL.HMAC(
                        EVP_sha256(), k.baseAddress, Int32(k.count), m.baseAddress, m.count, o.baseAddress, &length)
                }
            }
        }
        // HMAC only fails on allocation failure; there is no safe fallback for a MAC.
        precondition(result != nil && length == 32, "HMAC-SHA-256 failed: \(OpenSSL.drainErrors())")
        return output
    }
}

/// Cryptographically secure random bytes from OpenSSL's DRBG.
public enum SecureRandom {
    /// `count` random bytes.
    public static func bytes(_ count: Int) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: count)
        guard count > 0 else { return output }
        let result = output.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
        // A DRBG failure means the process cannot make keys or token ids safely: stop rather than continue.
        precondition(result == 1, "RAND_bytes failed: \(OpenSSL.drainErrors())")
        return output
    }
}

/// Comparison whose time depends only on the lengths, never on where the inputs differ.
public enum ConstantTime {
    /// True when `a` and `b` are equal. Unequal lengths return false at once (lengths are not secret here).
    public static func equals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}
