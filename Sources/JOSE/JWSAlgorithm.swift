// The JWS algorithms the gateway implements (RFC 7518 §3.1). `none` and the HMAC algorithms are absent on
// purpose: no asymmetric key can ever be asked to verify them (attack cases JWT-01, JWT-02).

public import GatewayCrypto

/// An asymmetric JWS algorithm.
public enum JWSAlgorithm: String, Sendable, Hashable, CaseIterable {
    case rs256 = "RS256"
    case rs384 = "RS384"
    case rs512 = "RS512"
    case ps256 = "PS256"
    case ps384 = "PS384"
    case ps512 = "PS512"
    case es256 = "ES256"
    case es384 = "ES384"
    case es512 = "ES512"

    /// The signature scheme behind the name.
    public var scheme: SignatureScheme {
        switch self {
        case .rs256: .rsaPKCS1v15(.sha256)
        case .rs384: .rsaPKCS1v15(.sha384)
        case .rs512: .rsaPKCS1v15(.sha512)
        case .ps256: .rsaPSS(.sha256)
        case .ps384: .rsaPSS(.sha384)
        case .ps512: .rsaPSS(.sha512)
        case .es256: .ecdsa(.sha256)
        case .es384: .ecdsa(.sha384)
        case .es512: .ecdsa(.sha512)
        }
    }

    /// The curve an ES* algorithm requires (RFC 7518 §3.4); nil for RSA algorithms.
    public var curve: ECCurve? {
        switch self {
        case .es256: .p256
        case .es384: .p384
        case .es512: .p521
        default: nil
        }
    }

    /// True for RS* and PS*.
    public var isRSA: Bool { curve == nil }

    /// The ES* algorithm for a curve.
    public static func ecdsa(for curve: ECCurve) -> JWSAlgorithm {
        switch curve {
        case .p256: .es256
        case .p384: .es384
        case .p521: .es512
        }
    }

    /// Parses a header `alg` exactly (case-sensitive, RFC 7515 §4.1.1); `none`, `None`, `HS256`... are nil.
    public init?(headerValue: String) {
        self.init(rawValue: headerValue)
    }
}
