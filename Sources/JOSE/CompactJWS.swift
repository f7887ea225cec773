// Strict parsing of the JWS compact serialization (RFC 7515 §7.1): exactly three canonical base64url
// parts, a header that is a JSON object without duplicate members, no `crit` (RFC 7515 §4.1.11: the gateway
// understands no extension, so any `crit` must be refused), and a payload that the caller interprets.
// Header members that name keys (`jku`, `x5u`, `jwk`, `x5c`) are kept as data only: no code path fetches
// or trusts them (attack cases JWT-06, rule 0.1).

public import GatewayCore

/// A parsed, not yet verified, compact JWS.
public struct CompactJWS: Sendable {
    /// The protected header.
    public let header: JSONObject
    /// The decoded payload bytes.
    public let payload: [UInt8]
    /// The decoded signature bytes.
    public let signature: [UInt8]
    /// `BASE64URL(header) || '.' || BASE64URL(payload)`: the bytes the signature covers.
    public let signingInput: [UInt8]

    /// The default upper bound on a token's length (bytes), above the 8 KiB bearer limit of the front end.
    public static let defaultMaxLength = 16 * 1024

    /// Parses `token`.
    ///
    /// - Throws: `JOSEError.malformed` for any structural fault, `.unsupportedHeader` for `crit`.
    public static func parse(_ token: String, maxLength: Int = defaultMaxLength) throws(JOSEError) -> CompactJWS {
        let bytes = Array(token.utf8)
        guard bytes.count <= maxLength else { throw .malformed("token too long") }
        let parts = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw .malformed("expected 3 parts") }
        guard !parts[0].isEmpty, !parts[1].isEmpty, !parts[2].isEmpty else { throw .malformed("empty part") }
        guard let headerBytes = Base64URL.decode(parts[0]), let payload = Base64URL.decode(parts[1]),
            let signature = Base64URL.decode(parts[2])
        else { throw .malformed("not canonical base64url") }
        let header = try JSONSupport.object(headerBytes, "header")
        try checkHeader(header)
        let signingInput = Array(bytes[..<(parts[0].count + 1 + parts[1].count)])
        return CompactJWS(header: header, payload: payload, signature: signature, signingInput: signingInput)
    }

    /// `alg`, `kid` and `typ` must be strings when present; `crit` must be absent.
    private static func checkHeader(_ header: JSONObject) throws(JOSEError) {
        guard header["crit"] == nil else { throw .unsupportedHeader("crit") }
        guard case .string? = header["alg"] else { throw .malformed("alg must be a string") }
        for name in ["kid", "typ", "cty", "jku", "x5u"] {
            if let value = header[name], value.stringValue == nil { throw .malformed("\(name) must be a string") }
        }
    }

    /// The header `alg`, exactly as sent.
    public var algorithmName: String { header["alg"]?.stringValue ?? "" }

    /// The header `kid`, if any.
    public var keyID: String? { header["kid"]?.stringValue }

    /// The header `typ`, if any.
    public var type: String? { header["typ"]?.stringValue }

    /// The header `jku`, if any: data only, compared against configuration, never fetched from here.
    public var jwkSetURL: String? { header["jku"]?.stringValue }

    /// The payload as a JSON object (for JWTs).
    public func claims() throws(JOSEError) -> JWTClaims {
        JWTClaims(try JSONSupport.object(payload, "claims"))
    }
}

/// The JSON parsing rules every JOSE object shares.
enum JSONSupport {
    /// Parses `bytes` as a JSON object with main's strict parser (duplicate members are an error).
    static func object(_ bytes: [UInt8], _ what: String) throws(JOSEError) -> JSONObject {
        let value: JSONValue
        do {
            value = try JSONValue.parse(bytes, maxDepth: 16)
        } catch {
            throw .malformed("\(what) is not strict JSON")
        }
        guard let object = value.objectValue else { throw .malformed("\(what) is not a JSON object") }
        return object
    }

    /// A JSON object from ordered members.
    static func make(_ members: [(String, JSONValue)]) -> JSONValue {
        .object(JSONObject(members))
    }
}

/// A JWT whose signature and claims have been checked.
public struct VerifiedJWT: Sendable {
    /// The parsed token.
    public let jws: CompactJWS
    /// Its claims.
    public let claims: JWTClaims
    /// The key that verified it.
    public let key: VerificationKey
    /// The validated time claims.
    public let times: ValidatedTimes

    /// Parses, verifies the signature with `keys`, then applies `rules` at `now`. The signature is checked
    /// before any claim is trusted.
    ///
    /// - Throws: `JOSEError` for the first failing rule.
    public static func verify(
        _ token: String, keys: VerificationKeySet, rules: JWTClaimRules, now: Double, requireKeyID: Bool = false
    ) throws(JOSEError) -> VerifiedJWT {
        let jws = try CompactJWS.parse(token)
        let key = try keys.verify(jws, requireKeyID: requireKeyID)
        let claims = try jws.claims()
        let times = try JWTValidator.validate(jws, claims: claims, rules: rules, now: now)
        return VerifiedJWT(jws: jws, claims: claims, key: key, times: times)
    }
}
