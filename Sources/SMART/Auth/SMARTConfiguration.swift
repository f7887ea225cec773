// The discovery document `/.well-known/smart-configuration` for a backend-services-only authorization
// server (SPEC-DIGEST §1.3, SMART 2.2 conformance.md). All URLs are absolute. `issuer` is omitted because
// `sso-openid-connect` is not offered; `code_challenge_methods_supported` is REQUIRED even so (§7 q8).

public import GatewayCore
public import JOSE

/// Builds the SMART configuration document.
public enum SMARTConfiguration {
    /// The document for a gateway reachable at `baseURL` (scheme, host and port, no trailing slash).
    ///
    /// - Parameters:
    ///   - baseURL: e.g. `https://gw.example:8443`; endpoints are `/auth/token`, `/auth/jwks`,
    ///     `/auth/introspect` under it.
    ///   - scopesSupported: RECOMMENDED list; the server must support every scope listed.
    ///   - assertionAlgorithms: accepted client assertion algorithms (SHALL include RS384 or ES384).
    ///   - acceptsV1Scopes: adds the `permission-v1` capability.
    ///   - introspection: adds `introspection_endpoint`.
    public static func document(
        baseURL: String, scopesSupported: [String] = [],
        assertionAlgorithms: [JWSAlgorithm] = [.rs384, .es384], acceptsV1Scopes: Bool = true,
        introspection: Bool = true
    ) -> JSONValue {
        var capabilities = ["client-confidential-asymmetric", "permission-v2"]
        if acceptsV1Scopes { capabilities.append("permission-v1") }
        var members: [(String, JSONValue)] = [
            ("token_endpoint", .string(baseURL + "/auth/token")),
            ("jwks_uri", .string(baseURL + "/auth/jwks")),
            ("grant_types_supported", JSONBuild.strings(["client_credentials"])),
            ("token_endpoint_auth_methods_supported", JSONBuild.strings(["private_key_jwt"])),
            (
                "token_endpoint_auth_signing_alg_values_supported",
                JSONBuild.strings(assertionAlgorithms.map(\.rawValue))
            ),
        ]
        if !scopesSupported.isEmpty { members.append(("scopes_supported", JSONBuild.strings(scopesSupported))) }
        if introspection { members.append(("introspection_endpoint", .string(baseURL + "/auth/introspect"))) }
        members += [
            ("capabilities", JSONBuild.strings(capabilities)),
            ("code_challenge_methods_supported", JSONBuild.strings(["S256"])),
        ]
        return JSONBuild.object(members)
    }
}
