// The algorithm vocabulary of GatewayCrypto. These are cryptographic schemes, not JOSE names: JOSE maps
// `ES384` to `.ecdsa(.sha384)` and binds it to a key when the key is loaded.

/// A SHA-2 hash function.
public enum HashAlgorithm: String, Sendable, Hashable, CaseIterable {
    case sha256, sha384, sha512

    /// The digest length in bytes.
    public var byteCount: Int {
        switch self {
        case .sha256: 32
        case .sha384: 48
        case .sha512: 64
        }
    }
}

/// A signature scheme over a message (the scheme hashes the message itself).
public enum SignatureScheme: Sendable, Hashable {
    /// RSASSA-PKCS1-v1_5 (RFC 8017 §8.2).
    case rsaPKCS1v15(HashAlgorithm)
    /// RSASSA-PSS with MGF1 over the same hash and a salt as long as the hash (RFC 7518 §3.5).
    case rsaPSS(HashAlgorithm)
    /// ECDSA with the signature as fixed-length raw `r || s` (RFC 7518 §3.4), never DER.
    case ecdsa(HashAlgorithm)

    /// The hash this scheme uses.
    public var hash: HashAlgorithm {
        switch self {
        case .rsaPKCS1v15(let h), .rsaPSS(let h), .ecdsa(let h): h
        }
    }

    /// True for the RSA schemes.
    public var isRSA: Bool {
        if case .ecdsa = self { return false }
        return true
    }
}

/// A NIST prime curve, named as JWA names it (RFC 7518 §6.2.1.1).
public enum ECCurve: String, Sendable, Hashable, CaseIterable {
    case p256 = "P-256"
    case p384 = "P-384"
    case p521 = "P-521"

    /// The length of one coordinate, and of `r` and `s`, in bytes (RFC 7518 §6.2.1.2: full length).
    public var coordinateByteCount: Int {
        switch self {
        case .p256: 32
        case .p384: 48
        case .p521: 66
        }
    }

    /// The field size in bits, as OpenSSL reports it for a key on this curve.
    public var bits: Int {
        switch self {
        case .p256: 256
        case .p384: 384
        case .p521: 521
        }
    }

    /// OpenSSL's group name.
    var openSSLName: String {
        switch self {
        case .p256: "prime256v1"
        case .p384: "secp384r1"
        case .p521: "secp521r1"
        }
    }

    init?(bits: Int) {
        guard let curve = ECCurve.allCases.first(where: { $0.bits == bits }) else { return nil }
        self = curve
    }
}

/// What kind of key a `PublicKey` or `PrivateKey` holds.
public enum KeyKind: Sendable, Hashable {
    /// RSA with the modulus size in bits.
    case rsa(bits: Int)
    /// EC on a named curve.
    case ec(ECCurve)
}
