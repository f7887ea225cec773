// Secure random bytes and constant-time comparison. (HMAC lives in Digest.swift, next to the digests.)

import COpenSSL

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
