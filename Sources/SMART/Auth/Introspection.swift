// `POST /auth/introspect` (RFC 7662 §2.2, SMART 2.2 token-introspection.md): other services ask whether a
// gateway-issued token is active. The caller's own authentication is checked by the endpoint wiring.

public import GatewayCore

extension TokenValidator {
    /// The RFC 7662 answer for `token` at `now`. Active answers carry what SMART requires (`active`, `scope`,
    /// `client_id`, `exp`) plus `iss`, `sub`, `jti`, `token_type` and `patient` when present; everything
    /// else, a token with an unusable patient claim included, is `{"active": false}` with no other member
    /// (RFC 7662 §2.2).
    public func introspectionResponse(token: String, now: Double) -> JSONValue {
        // A token whose patient context is unusable (SCP-04) is inactive here: a resource server that
        // trusted the answer could not enforce that context.
        guard case .success(let principal) = validate(authorization: "Bearer " + token, now: now),
            principal.patient != Principal.unusablePatientContext
        else {
            return JSONBuild.object([("active", .bool(false))])
        }
        var members: [(String, JSONValue)] = [
            ("active", .bool(true)), ("scope", .string(principal.scopes.joined(separator: " "))),
            ("client_id", .string(principal.clientID)), ("exp", .number(String(Int64(principal.expiresAt)))),
            ("iss", .string(principal.issuer)), ("sub", .string(principal.clientID)), ("token_type", .string("Bearer")),
        ]
        if let jti = principal.tokenID { members.append(("jti", .string(jti))) }
        if let patient = principal.patient { members.append(("patient", .string(patient))) }
        return JSONBuild.object(members)
    }
}

extension SMARTConfiguration {
    /// The `CapabilityStatement.rest.security` element that advertises SMART on the upstream's `/metadata`
    /// (the oauth-uris extension; deprecated in SMART 2.x in favour of the discovery document but still
    /// read by clients).
    public static func capabilitySecurity(baseURL: String) -> JSONValue {
        let uris = JSONBuild.object([
            ("url", .string("http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris")),
            (
                "extension",
                .array([JSONBuild.object([("url", .string("token")), ("valueUri", .string(baseURL + "/auth/token"))])])
            ),
        ])
        let coding = JSONBuild.object([
            ("system", .string("http://terminology.hl7.org/CodeSystem/restful-security-service")),
            ("code", .string("SMART-on-FHIR")),
        ])
        return JSONBuild.object([
            ("extension", .array([uris])),
            ("service", .array([JSONBuild.object([("coding", .array([coding]))])])),
            ("description", .string("SMART Backend Services (client_credentials with private_key_jwt)")),
        ])
    }
}
