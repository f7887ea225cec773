// EVP_DigestSign / EVP_DigestVerify for the three schemes. A fresh EVP_MD_CTX per operation, never
// reused across keys (C-INTEROP pitfall 4). ECDSA signatures cross this boundary as raw `r || s`
// (RFC 7518 §3.4); OpenSSL wants DER, so they are converted here (pitfall 5).

import COpenSSL

enum SignatureOps {
    /// Verifies; any malformed input is simply `false`.
    static func verify(_ key: PKey, scheme: SignatureScheme, message: [UInt8], signature: [UInt8]) -> Bool {
        OpenSSL.clearErrors()
        defer { OpenSSL.clearErrors() }
        guard fits(key, scheme) else { return false }
        let wire: [UInt8]
        switch scheme {
        case .ecdsa:
            guard case .ec(let curve)? = key.kind, let der = derSignature(raw: signature, curve: curve) else {
                return false
            }
            wire = der
        case .rsaPKCS1v15, .rsaPSS:
            // The signature is exactly the modulus length (RFC 8017 §8.2.2 step 1).
            guard signature.count == key.maxSignatureSize else { return false }
            wire = signature
        }
        guard let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        var keyContext: OpaquePointer?
        guard EVP_DigestVerifyInit(context, &keyContext, OpenSSL.digest(scheme.hash), nil, key.pointer) == 1,
            configure(keyContext, scheme)
        else { return false }
        let result = message.withUnsafeBufferPointer { m in
            wire.withUnsafeBufferPointer { s in
                EVP_DigestVerify(context, s.baseAddress, s.count, m.baseAddress, m.count)
            }
        }
        return result == 1
    }

    /// Signs; ECDSA results are raw `r || s`.
    static func sign(_ key: PKey, scheme: SignatureScheme, message: [UInt8]) throws(CryptoError) -> [UInt8] {
        let operation = "sign"
        guard fits(key, scheme) else { throw CryptoError(operation, "scheme does not fit the key") }
        guard let context = EVP_MD_CTX_new() else { throw OpenSSL.failure(operation, "cannot allocate") }
        defer { EVP_MD_CTX_free(context) }
        var keyContext: OpaquePointer?
        guard EVP_DigestSignInit(context, &keyContext, OpenSSL.digest(scheme.hash), nil, key.pointer) == 1,
            configure(keyContext, scheme)
        else { throw OpenSSL.failure(operation, "init failed") }
        var length = 0
        let sized = message.withUnsafeBufferPointer { EVP_DigestSign(context, nil, &length, $0.baseAddress, $0.count) }
        guard sized == 1 else { throw OpenSSL.failure(operation, "failed") }
        var output = [UInt8](repeating: 0, count: length)
        let signed = message.withUnsafeBufferPointer { m in
            output.withUnsafeMutableBufferPointer { o in
                EVP_DigestSign(context, o.baseAddress, &length, m.baseAddress, m.count)
            }
        }
        guard signed == 1 else { throw OpenSSL.failure(operation, "failed") }
        output.removeLast(output.count - length)
        guard case .ecdsa = scheme else { return output }
        guard case .ec(let curve)? = key.kind, let raw = rawSignature(der: output, curve: curve) else {
            throw CryptoError(operation, "cannot convert ECDSA signature")
        }
        return raw
    }

    /// RSA schemes need an RSA key; ECDSA needs an EC key (the curve is checked by the caller's binding).
    private static func fits(_ key: PKey, _ scheme: SignatureScheme) -> Bool {
        switch (key.kind, scheme) {
        case (.rsa?, .rsaPKCS1v15), (.rsa?, .rsaPSS), (.ec?, .ecdsa): true
        default: false
        }
    }

    /// Sets PSS padding with salt length = digest length (RFC 7518 §3.5); MGF1 defaults to the same hash.
    private static func configure(_ keyContext: OpaquePointer?, _ scheme: SignatureScheme) -> Bool {
        guard case .rsaPSS = scheme else { return true }
        guard let keyContext else { return false }
        return EVP_PKEY_CTX_set_rsa_padding(keyContext, RSA_PKCS1_PSS_PADDING) == 1
            && EVP_PKEY_CTX_set_rsa_pss_saltlen(keyContext, RSA_PSS_SALTLEN_DIGEST) == 1
    }

    /// Raw `r || s` → DER. Rejects a wrong length and r = 0 or s = 0 outright (CVE-2022-21449 class);
    /// OpenSSL also range-checks `1 ≤ r, s < n`.
    static func derSignature(raw: [UInt8], curve: ECCurve) -> [UInt8]? {
        let half = curve.coordinateByteCount
        guard raw.count == 2 * half else { return nil }
        let rBytes = Array(raw[..<half])
        let sBytes = Array(raw[half...])
        guard rBytes.contains(where: { $0 != 0 }), sBytes.contains(where: { $0 != 0 }) else { return nil }
        guard let sig = ECDSA_SIG_new() else { return nil }
        defer { ECDSA_SIG_free(sig) }
        guard let r = try? OpenSSL.bignum(rBytes, "ecdsa"), let s = try? OpenSSL.bignum(sBytes, "ecdsa") else {
            return nil
        }
        // ECDSA_SIG_set0 takes ownership of r and s on success only.
        guard ECDSA_SIG_set0(sig, r, s) == 1 else {
            BN_free(r)
            BN_free(s)
            return nil
        }
        let length = i2d_ECDSA_SIG(sig, nil)
        guard length > 0 else { return nil }
        var der = [UInt8](repeating: 0, count: Int(length))
        let written = der.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var cursor = buffer.baseAddress
            return i2d_ECDSA_SIG(sig, &cursor)
        }
        return written == length ? der : nil
    }

    /// DER → raw `r || s`, each left-padded to the curve's coordinate length.
    static func rawSignature(der: [UInt8], curve: ECCurve) -> [UInt8]? {
        let parsed: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor = buffer.baseAddress
            return d2i_ECDSA_SIG(nil, &cursor, buffer.count)
        }
        guard let sig = parsed else { return nil }
        defer { ECDSA_SIG_free(sig) }
        guard let r = ECDSA_SIG_get0_r(sig), let s = ECDSA_SIG_get0_s(sig),
            let rBytes = OpenSSL.bytes(of: r, length: curve.coordinateByteCount),
            let sBytes = OpenSSL.bytes(of: s, length: curve.coordinateByteCount)
        else { return nil }
        return rBytes + sBytes
    }
}
