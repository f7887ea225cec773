// A private signing key: loaded from PEM or generated, exported as PKCS#8 PEM. Private keys never leave
// this type except through `pkcs8PEM()`, which the key tooling uses to write key files.

import COpenSSL

/// An RSA or EC private key.
public final class PrivateKey: Sendable {
    let key: PKey

    /// What this key is.
    public let kind: KeyKind

    private init(_ key: PKey, operation: String) throws(CryptoError) {
        guard let kind = key.kind else { throw CryptoError(operation, "only RSA and P-256/384/521 EC keys") }
        self.key = key
        self.kind = kind
    }

    /// Reads an unencrypted PEM private key (PKCS#8 `PRIVATE KEY`, or `RSA PRIVATE KEY` / `EC PRIVATE KEY`).
    ///
    /// - Throws: `CryptoError` for anything else, including encrypted keys.
    public convenience init(pem: String) throws(CryptoError) {
        try self.init(KeyImport.privatePEM(pem), operation: "read private key PEM")
    }

    /// Generates an EC key pair on `curve`.
    public static func generateEC(_ curve: ECCurve) throws(CryptoError) -> PrivateKey {
        try PrivateKey(KeyImport.generate(.ec(curve)), operation: "generate key")
    }

    /// Generates an RSA key pair of `bits` (2048, 3072 or 4096) with exponent 65537.
    public static func generateRSA(bits: Int) throws(CryptoError) -> PrivateKey {
        guard [2048, 3072, 4096].contains(bits) else { throw CryptoError("generate key", "RSA size \(bits)") }
        return try PrivateKey(KeyImport.generate(.rsa(bits: bits)), operation: "generate key")
    }

    /// Signs `message` (the scheme hashes it). ECDSA signatures are raw `r || s`.
    ///
    /// - Throws: `CryptoError` when the scheme does not fit the key or OpenSSL fails.
    public func sign(_ message: [UInt8], scheme: SignatureScheme) throws(CryptoError) -> [UInt8] {
        try SignatureOps.sign(key, scheme: scheme, message: message)
    }

    /// The matching public key.
    public func publicKey() throws(CryptoError) -> PublicKey {
        try PublicKey(pem: publicPEM())
    }

    /// The public half as a PEM `PUBLIC KEY` block.
    public func publicPEM() throws(CryptoError) -> String {
        let pointer = key.pointer
        let bytes = try OpenSSL.writtenBytes("write public key PEM") { PEM_write_bio_PUBKEY($0, pointer) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The private key as an unencrypted PKCS#8 PEM `PRIVATE KEY` block.
    ///
    /// - Warning: secret material; write it only to a file with mode 0600.
    public func pkcs8PEM() throws(CryptoError) -> String {
        let pointer = key.pointer
        let bytes = try OpenSSL.writtenBytes("write private key PEM") { bio in
            PEM_write_bio_PKCS8PrivateKey(bio, pointer, nil, nil, 0, nil, nil)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
