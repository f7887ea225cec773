// SHA-2 digests and HMAC through OpenSSL 3 EVP (one-shot calls; no context is reused, so the
// "reused EVP_MD_CTX keeps the previous key" pitfall of C-INTEROP.md §4 cannot happen here).

import COpenSSL

/// SHA-2 message digests (FIPS 180-4) computed by OpenSSL.
public enum Digest {
    /// Returns the SHA-256 digest (32 bytes) of `bytes`.
    public static func sha256(_ bytes: [UInt8]) -> [UInt8] { digest(bytes, EVP_sha256(), length: 32) }

    /// Returns the SHA-384 digest (48 bytes) of `bytes`.
    public static func sha384(_ bytes: [UInt8]) -> [UInt8] { digest(bytes, EVP_sha384(), length: 48) }

    /// Returns the SHA-512 digest (64 bytes) of `bytes`.
    public static func sha512(_ bytes: [UInt8]) -> [UInt8] { digest(bytes, EVP_sha512(), length: 64) }

    /// Returns `bytes` as lowercase hexadecimal, two characters per byte.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func digest(_ bytes: [UInt8], _ md: OpaquePointer?, length: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: length)
        var written: UInt32 = 0
        // A null pointer for empty input is avoided the same way as in HMAC below.
        let input = bytes.isEmpty ? [0] : bytes
        let ok = input.withUnsafeBytes { input in
            out.withUnsafeMutableBytes { output in
                EVP_Digest(
                    input.baseAddress, bytes.count, output.baseAddress?.assumingMemoryBound(to: UInt8.self),
                    &written, md, nil)
            }
        }
        // EVP_Digest fails only on allocation failure or a missing algorithm: both are broken invariants
        // of the process, never caused by input.
        precondition(ok == 1 && Int(written) == length, "EVP_Digest failed")
        return out
    }
}

/// Keyed-hash message authentication (RFC 2104) computed by OpenSSL.
public enum HMAC {
    /// Returns HMAC-SHA-256 (32 bytes) of `data` under `key`.
    public static func sha256(key: [UInt8], message data: [UInt8]) -> [UInt8] { mac(key, data, EVP_sha256(), 32) }

    /// Returns HMAC-SHA-384 (48 bytes) of `data` under `key`.
    public static func sha384(key: [UInt8], message data: [UInt8]) -> [UInt8] { mac(key, data, EVP_sha384(), 48) }

    /// Returns HMAC-SHA-512 (64 bytes) of `data` under `key`.
    public static func sha512(key: [UInt8], message data: [UInt8]) -> [UInt8] { mac(key, data, EVP_sha512(), 64) }

    private static func mac(_ key: [UInt8], _ data: [UInt8], _ md: OpaquePointer?, _ length: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: length)
        var written: UInt32 = 0
        // An empty key or message is legal in RFC 2104; OpenSSL wants non-null pointers for them.
        let keyBytes = key.isEmpty ? [0] : key
        let dataBytes = data.isEmpty ? [0] : data
        let result = keyBytes.withUnsafeBytes { k in
            dataBytes.withUnsafeBytes { d in
                out.withUnsafeMutableBytes { o in
                    COpenSSL.HMAC(
                        md, k.baseAddress, Int32(key.count), d.baseAddress?.assumingMemoryBound(to: UInt8.self),
                        data.count, o.baseAddress?.assumingMemoryBound(to: UInt8.self), &written)
                }
            }
        }
        precondition(result != nil && Int(written) == length, "HMAC failed")
        return out
    }
}
