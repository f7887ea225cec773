// Building EVP_PKEYs from raw parameters (JWK n/e, EC x/y) and from PEM. OSSL_PARAM_BLD keeps pointers
// until `to_param` (C-INTEROP pitfall 3): parameter names are the shim's static C strings, and every
// buffer and BIGNUM stays alive until the key is built.

import COpenSSL

enum KeyImport {
    /// An RSA public key from modulus and public exponent (unsigned big-endian).
    static func rsaPublic(n: [UInt8], e: [UInt8]) throws(CryptoError) -> PKey {
        let operation = "import RSA public key"
        let bnN = try OpenSSL.bignum(n, operation)
        defer { BN_free(bnN) }
        let bnE = try OpenSSL.bignum(e, operation)
        defer { BN_free(bnE) }
        guard let builder = OSSL_PARAM_BLD_new() else { throw OpenSSL.failure(operation, "cannot allocate") }
        defer { OSSL_PARAM_BLD_free(builder) }
        guard OSSL_PARAM_BLD_push_BN(builder, COpenSSL_PARAM_RSA_N, bnN) == 1,
            OSSL_PARAM_BLD_push_BN(builder, COpenSSL_PARAM_RSA_E, bnE) == 1
        else { throw OpenSSL.failure(operation, "cannot build parameters") }
        return try fromData(type: "RSA", builder: builder, operation)
    }

    /// An EC public key from its affine coordinates, each exactly the curve's coordinate length.
    static func ecPublic(curve: ECCurve, x: [UInt8], y: [UInt8]) throws(CryptoError) -> PKey {
        let operation = "import EC public key"
        let length = curve.coordinateByteCount
        guard x.count == length, y.count == length else {
            throw CryptoError(operation, "coordinates must be \(length) bytes for \(curve.rawValue)")
        }
        // SEC 1 §2.3.3 uncompressed point: 0x04 || X || Y.
        let point: [UInt8] = [0x04] + x + y
        // Owned copies: OSSL_PARAM_BLD keeps these pointers until `to_param` (pitfall 3).
        let group = OwnedBytes(Array(curve.openSSLName.utf8) + [0])
        let encoded = OwnedBytes(point)
        guard let builder = OSSL_PARAM_BLD_new() else { throw OpenSSL.failure(operation, "cannot allocate") }
        defer { OSSL_PARAM_BLD_free(builder) }
        let groupName = UnsafeRawPointer(group.pointer).assumingMemoryBound(to: CChar.self)
        guard OSSL_PARAM_BLD_push_utf8_string(builder, COpenSSL_PARAM_GROUP_NAME, groupName, 0) == 1,
            OSSL_PARAM_BLD_push_octet_string(builder, COpenSSL_PARAM_PUB_KEY, encoded.pointer, point.count) == 1
        else { throw OpenSSL.failure(operation, "cannot build parameters") }
        let key = try withExtendedLifetime((group, encoded)) { () throws(CryptoError) in
            try fromData(type: "EC", builder: builder, operation)
        }
        try checkPublic(key, operation)
        return key
    }

    /// Rejects a point that is not on the curve (invalid-curve attacks), beyond what import checks.
    private static func checkPublic(_ key: PKey, _ operation: String) throws(CryptoError) {
        guard let context = EVP_PKEY_CTX_new_from_pkey(nil, key.pointer, nil) else {
            throw OpenSSL.failure(operation, "cannot allocate")
        }
        defer { EVP_PKEY_CTX_free(context) }
        guard EVP_PKEY_public_check(context) == 1 else { throw OpenSSL.failure(operation, "point is not on the curve") }
    }

    private static func fromData(
        type: String, builder: OpaquePointer, _ operation: String
    ) throws(CryptoError) -> PKey {
        guard let params = OSSL_PARAM_BLD_to_param(builder) else {
            throw OpenSSL.failure(operation, "cannot build parameters")
        }
        defer { OSSL_PARAM_free(params) }
        guard let context = EVP_PKEY_CTX_new_from_name(nil, type, nil) else {
            throw OpenSSL.failure(operation, "no \(type) implementation")
        }
        defer { EVP_PKEY_CTX_free(context) }
        // EVP_PKEY_PUBLIC_KEY is a macro expression Swift cannot import (pitfall 2); it is this union.
        let selection =
            OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS | OSSL_KEYMGMT_SELECT_OTHER_PARAMETERS
            | OSSL_KEYMGMT_SELECT_PUBLIC_KEY
        var made: OpaquePointer?
        guard EVP_PKEY_fromdata_init(context) == 1,
            EVP_PKEY_fromdata(context, &made, Int32(selection), params) == 1, let made
        else { throw OpenSSL.failure(operation, "invalid key parameters") }
        return PKey(takingOwnership: made)
    }

    /// A public key from a PEM `PUBLIC KEY` (SubjectPublicKeyInfo) block.
    static func publicPEM(_ pem: String) throws(CryptoError) -> PKey {
        let operation = "read public key PEM"
        return try OpenSSL.withReadBIO(Array(pem.utf8), operation) { bio throws(CryptoError) in
            guard let key = PEM_read_bio_PUBKEY(bio, nil, nil, nil) else {
                throw OpenSSL.failure(operation, "not a PEM public key")
            }
            return PKey(takingOwnership: key)
        }
    }

    /// A private key from an unencrypted PEM block (PKCS#8, or the traditional RSA/EC forms).
    static func privatePEM(_ pem: String) throws(CryptoError) -> PKey {
        let operation = "read private key PEM"
        return try OpenSSL.withReadBIO(Array(pem.utf8), operation) { bio throws(CryptoError) in
            // A nil password callback with a nil passphrase makes an encrypted key fail instead of prompting.
            var empty: [CChar] = [0]
            guard let key = PEM_read_bio_PrivateKey(bio, nil, nil, &empty) else {
                throw OpenSSL.failure(operation, "not an unencrypted PEM private key")
            }
            return PKey(takingOwnership: key)
        }
    }

    /// A fresh key pair.
    static func generate(_ kind: KeyKind) throws(CryptoError) -> PKey {
        let operation = "generate key"
        let type: String
        switch kind {
        case .rsa: type = "RSA"
        case .ec: type = "EC"
        }
        guard let context = EVP_PKEY_CTX_new_from_name(nil, type, nil) else {
            throw OpenSSL.failure(operation, "no \(type) implementation")
        }
        defer { EVP_PKEY_CTX_free(context) }
        guard EVP_PKEY_keygen_init(context) == 1 else { throw OpenSSL.failure(operation, "init failed") }
        switch kind {
        case .rsa(let bits):
            guard EVP_PKEY_CTX_set_rsa_keygen_bits(context, Int32(bits)) == 1 else {
                throw OpenSSL.failure(operation, "bad RSA size")
            }
        case .ec(let curve):
            guard EVP_PKEY_CTX_set_group_name(context, curve.openSSLName) == 1 else {
                throw OpenSSL.failure(operation, "bad curve")
            }
        }
        var made: OpaquePointer?
        guard EVP_PKEY_generate(context, &made) == 1, let made else { throw OpenSSL.failure(operation, "failed") }
        return PKey(takingOwnership: made)
    }
}

/// A heap copy of bytes with a stable address, freed in deinit.
private final class OwnedBytes {
    let pointer: UnsafeMutablePointer<UInt8>

    init(_ bytes: [UInt8]) {
        pointer = .allocate(capacity: max(bytes.count, 1))
        pointer.initialize(from: bytes, count: bytes.count)
    }

    deinit { pointer.deallocate() }
}
