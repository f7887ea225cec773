// Typed access to JWT claims (RFC 7519 §4.1). Every accessor checks the JSON type: a string `exp`, a
// `null` or a boolean is a type error, never "absent" (attack case JWT-09).

public import GatewayCore

/// The claims set of a JWT.
public struct JWTClaims: Sendable {
    /// The claims object, members in token order.
    public let object: JSONObject

    /// Wraps a claims object.
    public init(_ object: JSONObject) { self.object = object }

    /// NumericDates beyond this (the year 5138) are absurd; refusing them keeps later arithmetic exact.
    static let maxNumericDate = 1e11

    /// A string claim; nil when absent; throws when present with another JSON type.
    public func string(_ name: String) throws(JOSEError) -> String? {
        guard let value = object[name] else { return nil }
        guard let string = value.stringValue else { throw .invalidClaim("\(name) must be a string") }
        return string
    }

    /// A required, non-empty string claim.
    public func requiredString(_ name: String) throws(JOSEError) -> String {
        guard let value = try string(name), !value.isEmpty else { throw .invalidClaim("\(name) is required") }
        return value
    }

    /// A NumericDate claim (RFC 7519 §2): a JSON number, finite, in [0, 1e11]; nil when absent.
    public func numericDate(_ name: String) throws(JOSEError) -> Double? {
        guard let value = object[name] else { return nil }
        guard case .number = value, let seconds = value.doubleValue, seconds.isFinite else {
            throw .invalidClaim("\(name) must be a number")
        }
        guard seconds >= 0, seconds <= Self.maxNumericDate else { throw .invalidClaim("\(name) out of range") }
        return seconds
    }

    /// The audience as a list: a string is one element; an array must hold only strings (RFC 7519 §4.1.3).
    public func audiences() throws(JOSEError) -> [String]? {
        guard let value = object["aud"] else { return nil }
        if let single = value.stringValue { return [single] }
        guard let array = value.arrayValue else { throw .invalidClaim("aud must be a string or array") }
        var out: [String] = []
        for element in array {
            guard let string = element.stringValue else { throw .invalidClaim("aud elements must be strings") }
            out.append(string)
        }
        return out
    }
}
