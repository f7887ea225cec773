// Turning verified claims (or an RFC 7662 answer) into a `Principal`.
//
// Namespaces (issue #4 review): the gateway's own tokens name registered clients. A token of an external
// issuer names that issuer's clients, which are not ours: its principal is `<issuer>#<client id>` (`#` is
// never in a registered id, so `client.id` policies, per-client quotas and revocations of a registered
// client never apply to it) with no registry record, unless the issuer's configured `clients` mapping
// binds that external client id to a registration explicitly. A bound principal is the registered client
// (its record, its status) and its scopes are cut to the registration's (`ScopeMediation.grant`).
//
// Claims are typed: scopes of the wrong type make the token invalid. A `patient` claim that is present but
// not a plain FHIR id makes the patient context unusable (403 later), not the token invalid (SCP-04).

import FHIR
import GatewayCore
import JOSE

enum PrincipalMapping {
    /// The gateway's own tokens: `sub` = `client_id` = a registered client (TokenIssuer).
    static func own(_ jwt: VerifiedJWT, registry: ClientRegistry) -> Result<Principal, BearerError> {
        let object = jwt.claims.object
        guard let issuer = object["iss"]?.stringValue else { return .failure(BearerError(.invalid, "iss")) }
        guard let clientID = object["client_id"]?.stringValue, !clientID.isEmpty,
            object["sub"]?.stringValue == clientID
        else { return .failure(BearerError(.invalid, "sub differs from client_id")) }
        guard let scopes = scopes(object["scope"]) else { return .failure(BearerError(.invalid, "scope")) }
        guard let client = registry.record(id: clientID)?.client else {
            return .failure(BearerError(.revoked, "client not registered"))
        }
        return .success(
            Principal(
                clientID: clientID, issuer: issuer, scopes: scopes, patient: patient(object["patient"]),
                purposeOfUse: object["purpose_of_use"]?.stringValue, tokenID: object["jti"]?.stringValue,
                expiresAt: jwt.times.expiresAt, client: client))
    }

    /// A token of a configured external issuer, in that issuer's namespace unless `profile.clients` binds it.
    static func external(
        _ jwt: VerifiedJWT, profile: ExternalIssuer, registry: ClientRegistry
    ) -> Result<Principal, BearerError> {
        let object = jwt.claims.object
        let mapping = profile.mapping
        guard let external = (object[mapping.clientID] ?? object["sub"])?.stringValue, !external.isEmpty else {
            return .failure(BearerError(.invalid, "no client id"))
        }
        guard let scopes = scopes(object[mapping.scope]) else { return .failure(BearerError(.invalid, "scope")) }
        let principal = Principal(
            clientID: namespaced(external, issuer: profile.issuer), issuer: profile.issuer, scopes: scopes,
            patient: patient(object[mapping.patient]), purposeOfUse: object["purpose_of_use"]?.stringValue,
            tokenID: object["jti"]?.stringValue, expiresAt: jwt.times.expiresAt)
        return bind(principal, to: profile.clients[external], registry: registry)
    }

    /// RFC 7662 §2.2 answer: `active` must be `true`; SMART requires `scope`, `client_id` and `exp`. The
    /// answering server is an external issuer: its clients get its namespace.
    static func introspected(_ object: JSONObject, now: Double, defaultIssuer: String) -> Result<Principal, BearerError>
    {
        guard object["active"]?.boolValue == true else { return .failure(BearerError(.invalid, "inactive")) }
        let claims = JWTClaims(object)
        guard let exp = try? claims.numericDate("exp") else { return .failure(BearerError(.invalid, "exp")) }
        guard now < exp else { return .failure(BearerError(.expired, "introspected token expired")) }
        guard let clientID = object["client_id"]?.stringValue, !clientID.isEmpty, let scopes = scopes(object["scope"])
        else { return .failure(BearerError(.invalid, "introspection answer lacks fields")) }
        let issuer = object["iss"]?.stringValue ?? defaultIssuer
        return .success(
            Principal(
                clientID: namespaced(clientID, issuer: issuer), issuer: issuer, scopes: scopes,
                patient: patient(object["patient"]), tokenID: object["jti"]?.stringValue, expiresAt: exp))
    }

    /// `<issuer>#<client id>`: an external principal's id, never equal to a registered id (letters, digits,
    /// `-`, `_`, `.` only; ClientsFile).
    static func namespaced(_ clientID: String, issuer: String) -> String { issuer + "#" + clientID }

    /// Binds an external principal to the registration the issuer's `clients` mapping names.
    static func bind(
        _ principal: Principal, to registeredID: String?, registry: ClientRegistry
    ) -> Result<Principal, BearerError> {
        guard let registeredID else { return .success(principal) }
        guard let client = registry.record(id: registeredID)?.client else {
            return .failure(BearerError(.revoked, "mapped client not registered"))
        }
        var bound = principal
        bound.clientID = client.id
        bound.client = client
        // The registration is what the operator pre-authorized (SPEC-DIGEST §1.6 step 10): a partner cannot
        // grant a bound client more than its own token endpoint would.
        bound.scopes = ScopeMediation.grant(requested: principal.scopes, registered: client.allowedScopes)
        return .success(bound)
    }

    /// A space-separated string (RFC 8693 / RFC 9068 `scope`) or an array of strings; nil for other types.
    static func scopes(_ value: JSONValue?) -> [String]? {
        guard let value else { return [] }
        if let text = value.stringValue { return text.split(separator: " ").map(String.init) }
        guard let array = value.arrayValue else { return nil }
        let strings = array.compactMap(\.stringValue)
        return strings.count == array.count ? strings : nil
    }

    /// Absent → no patient context; a plain FHIR id → that patient; anything else (null, "", an array,
    /// "Patient/pt-alice", "pt-alice ") → ``Principal/unusablePatientContext``. SCP-04 (e) is pinned: the
    /// prefixed form is not normalised, because the gateway never issues it and guessing is how contexts leak.
    static func patient(_ value: JSONValue?) -> String? {
        guard let value else { return nil }
        guard let text = value.stringValue, FHIRSyntax.isValidID(text) else { return Principal.unusablePatientContext }
        return text
    }
}
