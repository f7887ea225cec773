// A public key for signature verification, built from JWK parameters or PEM. The JOSE layer decides which
// scheme a key may be used with; this type only refuses schemes that do not fit the key type.

import COpenSSL

/// An RSA or EC public key.
public final class PublicKey: Sendable {
    let key: PKey

    /// What this key is (RSA with its size, or EC with its curve).
    public let kind: KeyKind

    init(_ key: PKey, operation: String) throws(CryptoError) {
        guard let kind = key.kind else { throw CryptoError(operation, "only RSA and P-256/384/521 EC keys") }
        self.key = key
        self.kind = kind
    }

    /// Builds an RSA public key from its modulus and public exponent (unsigned big-endian bytes).
    ///
    /// - Throws: `CryptoError` when OpenSSL rejects the parameters.
    public convenience init(rsaModulus n: [UInt8], exponent e: [UInt8]) throws(CryptoError) {
        try self.init(KeyImport.rsaPublic(n: n, e: e), operation: "import RSA public key")
    }

    /// Builds an EC public key from affine coordinates, each exactly `curve.coordinateByteCount` bytes.
    ///
    /// - Throws: `CryptoError` for a wrong length or a point that is not on the curve.
    public convenience init(curve: ECCurve, x: [UInt8], y: [UInt8]) throws(CryptoError) {
        try self.init(KeyImport.ecPublic(curve: curve, x: x, y: y), operation: "import EC public key")
    }

    /// Reads a PEM `PUBLIC KEY` (SubjectPublicKeyInfo) block.
    public convenience init(pem: String) throws(CryptoError) {
        try self.init(KeyImport.publicPEM(pem), operation: "read public key PEM")
    }

    /// Checks `signature` over `message`. Returns false for any malformed signature (wrong length, r or s
    /// zero, scheme that does not fit the key) as well as for a bad one.
    public func verify(_ signature: [UInt8], for message: [UInt8], scheme: SignatureScheme) -> Bool {
        SignatureOps.verify(key, scheme: scheme, message: message, signature: signature)
    }

    /// The PEM `PUBLIC KEY` block.
    public func pem() throws(CryptoError) -> String {
        let pointer = key.pointer
        let bytes = try OpenSSL.writtenBytes("write public key PEM") { PEM_write_bio_PUBKEY($0, pointer) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// For RSA keys, the modulus and exponent as minimal unsigned big-endian bytes (JWK `n`, `e`).
    public var rsaComponents: (n: [UInt8], e: [UInt8])? {
        guard case .rsa = kind, let n = key.bignumParameter("n"), let e = key.bignumParameter("e") else { return nil }
        return (n, e)
    }

    /// For EC keys, the coordinates left-padded to the curve's length (JWK `x`, `y`).
    public var ecCoordinates: (x: [UInt8], y: [UInt8])? {
        guard case .ec(let curve) = kind,
            let x = key.bignumParameter("qx", length: curve.coordinateByteCount),
            let y = key.bignumParameter("qy", length: curve.coordinateByteCount)
        else { return nil }
        return (x, y)
    }
}
