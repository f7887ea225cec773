// Why a JOSE object was refused. The cases name classes, not inputs; the detail is for logs only and never
// contains token text.

import GatewayCore

/// A JWS/JWT/JWK failure.
public enum JOSEError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Not a canonical compact JWS, not a JSON object, duplicate members, oversized, and similar.
    case malformed(String)
    /// A header member the gateway refuses (`crit`, an untrusted `jku`, a missing `kid`).
    case unsupportedHeader(String)
    /// The `alg` is not one this key or issuer is bound to (`none`, `HS*`, or another algorithm).
    case algorithmNotAllowed(String)
    /// No loaded key has this (`kid`, `alg`).
    case keyNotFound
    /// More than one loaded key matches (`kid`, `alg`): SMART 2.2 backend-services says fail.
    case ambiguousKey
    /// The signature does not verify (including wrong length or r = 0 / s = 0).
    case invalidSignature
    /// A JWK or key that cannot be used (type, size, curve, private members, use/key_ops).
    case invalidKey(String)
    /// A claim is missing, of the wrong JSON type, or out of range.
    case invalidClaim(String)
    /// `exp` has passed.
    case expired
    /// `nbf` (or `iat`) lies in the future.
    case notYetValid
    /// `aud` does not name the expected audience exactly.
    case wrongAudience
    /// `typ` is not the expected token type.
    case wrongType

    public var description: String {
        switch self {
        case .malformed(let d): "malformed JOSE object: \(d)"
        case .unsupportedHeader(let d): "unsupported header: \(d)"
        case .algorithmNotAllowed(let d): "algorithm not allowed: \(d)"
        case .keyNotFound: "no key matches kid and alg"
        case .ambiguousKey: "more than one key matches kid and alg"
        case .invalidSignature: "invalid signature"
        case .invalidKey(let d): "invalid key: \(d)"
        case .invalidClaim(let d): "invalid claim: \(d)"
        case .expired: "token expired"
        case .notYetValid: "token not yet valid"
        case .wrongAudience: "wrong audience"
        case .wrongType: "wrong token type"
        }
    }
}
