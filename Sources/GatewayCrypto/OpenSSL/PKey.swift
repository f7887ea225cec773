// Ownership of one EVP_PKEY (STYLE habit 19): the class frees it in deinit, and the pointer is lent only
// for the duration of a call.

import COpenSSL

/// Owns one `EVP_PKEY`.
// @unchecked Sendable: the key is never mutated after construction, and OpenSSL 3 allows a const EVP_PKEY
// to be used by several threads at once (each operation builds its own EVP_MD_CTX / EVP_PKEY_CTX).
final class PKey: @unchecked Sendable {
    let pointer: OpaquePointer

    /// Takes ownership of `pointer`.
    init(takingOwnership pointer: OpaquePointer) { self.pointer = pointer }

    deinit { EVP_PKEY_free(pointer) }

    /// RSA or EC with its size; nil for other key types (which GatewayCrypto never creates).
    var kind: KeyKind? {
        let bits = Int(EVP_PKEY_get_bits(pointer))
        if EVP_PKEY_is_a(pointer, "RSA") == 1 { return .rsa(bits: bits) }
        if EVP_PKEY_is_a(pointer, "EC") == 1, let curve = ECCurve(bits: bits) {
            return curve.openSSLName == groupName ? .ec(curve) : nil
        }
        return nil
    }

    /// The EC group name (`secp384r1`), or nil.
    var groupName: String? {
        var buffer = [CChar](repeating: 0, count: 64)
        var length = 0
        guard EVP_PKEY_get_utf8_string_param(pointer, OSSL_PKEY_PARAM_GROUP_NAME, &buffer, buffer.count, &length) == 1
        else {
            OpenSSL.clearErrors()
            return nil
        }
        return String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Signature size bound in bytes (the modulus length for RSA).
    var maxSignatureSize: Int { Int(EVP_PKEY_get_size(pointer)) }

    /// A big-number parameter (`n`, `e`, `qx`, `qy`) as unsigned big-endian bytes.
    func bignumParameter(_ name: String, length: Int? = nil) -> [UInt8]? {
        var bn: OpaquePointer?
        guard EVP_PKEY_get_bn_param(pointer, name, &bn) == 1, let bn else {
            OpenSSL.clearErrors()
            return nil
        }
        defer { BN_free(bn) }
        return OpenSSL.bytes(of: bn, length: length)
    }
}
