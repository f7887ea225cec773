// Public JWKs and JWK Sets (RFC 7517, RFC 7518 §6): RSA (n, e) and EC (crv, x, y). Registered client keys
// must be public only, RSA at least 2048 bits (RFC 7518 §3.3), EC coordinates exactly the curve length
// (RFC 7518 §6.2.1.2), and usable for signatures by `use` / `key_ops`.

public import GatewayCore
public import GatewayCrypto

/// A parsed public JWK.
public struct JWK: Sendable {
    /// `kid` (SMART requires it on client keys).
    public let keyID: String?
    /// `alg`, when the JWK names one it is restricted to.
    public let algorithm: JWSAlgorithm?
    /// The key itself.
    public let publicKey: PublicKey

    /// Members that only private keys have; a registered public JWK must carry none (RFC 7518 §6.3.2, §6.2.2).
    static let privateMembers = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"]

    /// The minimum RSA modulus size (RFC 7518 §3.3).
    public static let minimumRSABits = 2048

    /// Parses one public JWK object.
    ///
    /// - Throws: `JOSEError.invalidKey` naming the rule that failed.
    public init(_ object: JSONObject) throws(JOSEError) {
        for name in Self.privateMembers where object[name] != nil {
            throw .invalidKey("private member \(name) in a public JWK")
        }
        keyID = try Self.optionalString(object, "kid")
        try Self.checkUsage(object)
        let algName = try Self.optionalString(object, "alg")
        if let algName {
            guard let algorithm = JWSAlgorithm(headerValue: algName) else {
                throw .invalidKey("alg \(algName) is not a supported signature algorithm")
            }
            self.algorithm = algorithm
        } else {
            algorithm = nil
        }
        switch try Self.optionalString(object, "kty") {
        case "RSA"?: publicKey = try Self.rsaKey(object)
        case "EC"?: publicKey = try Self.ecKey(object)
        case let other?: throw .invalidKey("kty \(other) not supported")
        case nil: throw .invalidKey("kty is required")
        }
        try Self.checkAlgorithmFits(algorithm, publicKey.kind)
    }

    /// Parses one public JWK from JSON bytes.
    public init(json: [UInt8]) throws(JOSEError) {
        try self.init(JSONSupport.object(json, "JWK"))
    }

    private static func optionalString(_ object: JSONObject, _ name: String) throws(JOSEError) -> String? {
        guard let value = object[name] else { return nil }
        guard let string = value.stringValue else { throw .invalidKey("\(name) must be a string") }
        return string
    }

    /// `use` must be `sig` when present; `key_ops` must include `verify` when present (RFC 7517 §4.2-4.3).
    private static func checkUsage(_ object: JSONObject) throws(JOSEError) {
        if let use = try optionalString(object, "use"), use != "sig" { throw .invalidKey("use is not sig") }
        guard let ops = object["key_ops"] else { return }
        guard let array = ops.arrayValue else { throw .invalidKey("key_ops must be an array") }
        var names: [String] = []
        for op in array {
            guard let name = op.stringValue, !names.contains(name) else { throw .invalidKey("bad key_ops") }
            names.append(name)
        }
        guard names.contains("verify") else { throw .invalidKey("key_ops lacks verify") }
    }

    private static func rsaKey(_ object: JSONObject) throws(JOSEError) -> PublicKey {
        guard let nText = try optionalString(object, "n"), let eText = try optionalString(object, "e"),
            let n = Base64URL.decodeUInt(nText), let e = Base64URL.decodeUInt(eText)
        else { throw .invalidKey("RSA n and e must be canonical Base64urlUInt") }
        guard n.count * 8 - n[0].leadingZeroBitCount >= minimumRSABits else {
            throw .invalidKey("RSA modulus below \(minimumRSABits) bits")
        }
        guard e.count <= 4, e.last.map({ $0 & 1 == 1 }) == true, e != [1] else { throw .invalidKey("RSA exponent") }
        let key: PublicKey
        do {
            key = try PublicKey(rsaModulus: n, exponent: e)
        } catch {
            throw .invalidKey("RSA parameters rejected")
        }
        guard case .rsa(let bits) = key.kind, bits >= minimumRSABits else { throw .invalidKey("RSA too small") }
        return key
    }

    private static func ecKey(_ object: JSONObject) throws(JOSEError) -> PublicKey {
        guard let crvName = try optionalString(object, "crv"), let curve = ECCurve(rawValue: crvName) else {
            throw .invalidKey("crv must be P-256, P-384 or P-521")
        }
        guard let xText = try optionalString(object, "x"), let yText = try optionalString(object, "y"),
            let x = Base64URL.decode(xText), let y = Base64URL.decode(yText)
        else { throw .invalidKey("EC x and y must be canonical base64url") }
        guard x.count == curve.coordinateByteCount, y.count == curve.coordinateByteCount else {
            throw .invalidKey("EC coordinates must be \(curve.coordinateByteCount) bytes for \(crvName)")
        }
        do {
            return try PublicKey(curve: curve, x: x, y: y)
        } catch {
            throw .invalidKey("EC point rejected")
        }
    }

    private static func checkAlgorithmFits(_ algorithm: JWSAlgorithm?, _ kind: KeyKind) throws(JOSEError) {
        guard let algorithm else { return }
        switch kind {
        case .rsa: guard algorithm.isRSA else { throw .invalidKey("alg \(algorithm.rawValue) needs an EC key") }
        case .ec(let curve):
            guard algorithm.curve == curve else { throw .invalidKey("alg \(algorithm.rawValue) needs another curve") }
        }
    }

    /// The RFC 7638 JWK thumbprint of `key` with SHA-256, base64url: the hash of a JSON object with only
    /// the key's required members (RSA: `e`, `kty`, `n`; EC: `crv`, `kty`, `x`, `y`), in that sorted order,
    /// without whitespace (RFC 7638 §3.2). Clients such as smart-fetch use it as `kid`.
    public static func thumbprint(of key: PublicKey) -> String {
        var text = ""
        if let (n, e) = key.rsaComponents {
            text = #"{"e":"\#(Base64URL.encode(e))","kty":"RSA","n":"\#(Base64URL.encode(n))"}"#
        } else if case .ec(let curve) = key.kind, let (x, y) = key.ecCoordinates {
            text = #"{"crv":"\#(curve.rawValue)","kty":"EC","x":"\#(Base64URL.encode(x))","#
                + #""y":"\#(Base64URL.encode(y))"}"#
        }
        return Base64URL.encode(Digest.sha256(Array(text.utf8)))
    }

    /// The public JWK JSON for `key` (for `GET /auth/jwks` and for registering a client's key).
    public static func publicJSON(
        for key: PublicKey, keyID: String, algorithm: JWSAlgorithm
    ) -> JSONValue {
        var members: [(String, JSONValue)] = []
        if let (n, e) = key.rsaComponents {
            members = [
                ("kty", .string("RSA")), ("n", .string(Base64URL.encode(n))), ("e", .string(Base64URL.encode(e))),
            ]
        } else if case .ec(let curve) = key.kind, let (x, y) = key.ecCoordinates {
            members = [
                ("kty", .string("EC")), ("crv", .string(curve.rawValue)),
                ("x", .string(Base64URL.encode(x))), ("y", .string(Base64URL.encode(y))),
            ]
        }
        members += [("kid", .string(keyID)), ("alg", .string(algorithm.rawValue)), ("use", .string("sig"))]
        return JSONSupport.make(members)
    }
}

/// A JWK Set (RFC 7517 §5).
public struct JWKSet: Sendable {
    /// The usable keys, in document order.
    public let keys: [JWK]
    /// Keys that were skipped, with the reason (RFC 7517 §5: unusable members are ignored).
    public let rejected: [(index: Int, reason: String)]

    /// A set from already parsed keys.
    public init(keys: [JWK], rejected: [(index: Int, reason: String)] = []) {
        self.keys = keys
        self.rejected = rejected
    }

    /// Parses a JWK Set. With `strict`, any unusable key or a duplicated `kid` fails the whole set (for
    /// registration, so a mistake is caught when it is made); otherwise unusable keys are skipped.
    public static func parse(_ bytes: [UInt8], strict: Bool = false) throws(JOSEError) -> JWKSet {
        let object = try JSONSupport.object(bytes, "JWK Set")
        guard let array = object["keys"]?.arrayValue else { throw .invalidKey("keys must be an array") }
        var keys: [JWK] = []
        var rejected: [(index: Int, reason: String)] = []
        for (index, element) in array.enumerated() {
            do {
                guard let member = element.objectValue else { throw JOSEError.invalidKey("not an object") }
                keys.append(try JWK(member))
            } catch {
                if strict { throw .invalidKey("key \(index): \(error)") }
                rejected.append((index, "\(error)"))
            }
        }
        if strict {
            let ids = keys.compactMap(\.keyID)
            guard ids.count == keys.count else { throw .invalidKey("every key needs a kid") }
            guard Set(ids).count == ids.count else { throw .invalidKey("duplicate kid") }
        }
        return JWKSet(keys: keys, rejected: rejected)
    }
}
