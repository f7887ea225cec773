// Turning verified claims (or an RFC 7662 answer) into a `Principal`. Claims are typed: a `patient` that is
// not a non-empty string, or scopes of the wrong type, make the token invalid rather than silently absent
// (attack case SCP-04 relies on the patient being exactly what the token says).

import GatewayCore
import JOSE

enum PrincipalMapping {
    static func principal(
        _ jwt: VerifiedJWT, mapping: ClaimMapping, requireRegistered: Bool, registry: ClientRegistry
    ) -> Result<Principal, BearerError> {
        let object = jwt.claims.object
        guard let issuer = object["iss"]?.stringValue else { return .failure(BearerError(.invalid, "iss")) }
        let subject = object["sub"]?.stringValue
        guard let clientID = optionalString(object, mapping.clientID) ?? subject, !clientID.isEmpty else {
            return .failure(BearerError(.invalid, "no client id"))
        }
        // Own tokens carry sub = client_id (TokenIssuer); anything else was not minted here.
        if requireRegistered, subject != clientID {
            return .failure(BearerError(.invalid, "sub differs from client_id"))
        }
        guard let scopes = scopes(object[mapping.scope]) else { return .failure(BearerError(.invalid, "scope")) }
        guard let patient = patient(object[mapping.patient]) else { return .failure(BearerError(.invalid, "patient")) }
        let client = registry.record(id: clientID)?.client
        if requireRegistered, client == nil { return .failure(BearerError(.revoked, "client not registered")) }
        return .success(
            Principal(
                clientID: clientID, issuer: issuer, scopes: scopes, patient: patient.value,
                purposeOfUse: optionalString(object, "purpose_of_use"), tokenID: optionalString(object, "jti"),
                expiresAt: jwt.times.expiresAt, client: client))
    }

    /// RFC 7662 §2.2 answer: `active` must be `true`; SMART requires `scope`, `client_id` and `exp`.
    static func introspected(_ object: JSONObject, now: Double, defaultIssuer: String) -> Result<Principal, BearerError>
    {
        guard object["active"]?.boolValue == true else { return .failure(BearerError(.invalid, "inactive")) }
        let claims = JWTClaims(object)
        guard let exp = try? claims.numericDate("exp") else { return .failure(BearerError(.invalid, "exp")) }
        guard now < exp else { return .failure(BearerError(.expired, "introspected token expired")) }
        guard let clientID = optionalString(object, "client_id"), !clientID.isEmpty,
            let scopes = scopes(object["scope"]), let patient = patient(object["patient"])
        else { return .failure(BearerError(.invalid, "introspection answer lacks fields")) }
        return .success(
            Principal(
                clientID: clientID, issuer: optionalString(object, "iss") ?? defaultIssuer, scopes: scopes,
                patient: patient.value, tokenID: optionalString(object, "jti"), expiresAt: exp))
    }

    private static func optionalString(_ object: JSONObject, _ name: String) -> String? {
        object[name]?.stringValue
    }

    /// A space-separated string (RFC 8693 / RFC 9068 `scope`) or an array of strings; nil for other types.
    static func scopes(_ value: JSONValue?) -> [String]? {
        guard let value else { return [] }
        if let text = value.stringValue { return text.split(separator: " ").map(String.init) }
        guard let array = value.arrayValue else { return nil }
        let strings = array.compactMap(\.stringValue)
        return strings.count == array.count ? strings : nil
    }

    /// Absent → no patient; a non-empty string without surrounding spaces → that patient; anything else
    /// (null, "", an array, "pt-alice ") → nil, meaning invalid.
    static func patient(_ value: JSONValue?) -> PatientClaim? {
        guard let value else { return PatientClaim(value: nil) }
        guard let text = value.stringValue, !text.isEmpty,
            text.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F })
        else { return nil }
        return PatientClaim(value: text)
    }

    /// A well-typed patient claim: `value` nil means the token has no patient context.
    struct PatientClaim {
        let value: String?
    }
}
