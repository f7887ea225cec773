// Builds the validator's sources of trust besides the gateway's own keys from `auth.external_issuers`
// (issue #4 item 5): one `ExternalIssuer` profile per JWKS issuer (its own key set, algorithm allow-list,
// audience and leeway), the JWKS cache with the HTTPS fetcher (also serving clients registered by
// `jwks_url`), and the RFC 7662 introspector for opaque tokens.

import GatewayCore
import JOSE
import SMART

/// What `makeServices` hands to the validator and the token endpoint.
struct TrustSources {
    let externalIssuers: [ExternalIssuer]
    let jwksCache: JWKSCache
    let introspector: (any Introspector)?

    /// - Throws: `GatewayError` for an unknown algorithm name or more than one introspection issuer (the
    ///   validator sends every opaque token to a single introspection endpoint).
    init(config: GatewayConfig) throws {
        var profiles: [ExternalIssuer] = []
        var caFiles: [String: String] = [:]
        var introspectors: [HTTPSIntrospector] = []
        var seen: Set<String> = []
        for entry in config.auth.externalIssuers {
            // A repeated issuer would leave one profile silently unused.
            guard seen.insert(entry.issuer).inserted else {
                throw GatewayError(
                    status: 500, issueType: .exception, "auth.external_issuers: \(entry.issuer) is listed twice")
            }
            if let url = entry.introspectionURL {
                introspectors.append(HTTPSIntrospector(
                    url: url, caFile: entry.caFile, clientID: entry.introspectionClientID,
                    clientSecret: entry.introspectionClientSecret))
            }
            guard let jwksURL = entry.jwksURL else { continue }
            var algorithms: Set<JWSAlgorithm> = []
            for name in entry.algorithms {
                guard let algorithm = JWSAlgorithm(rawValue: name) else {
                    throw GatewayError(
                        status: 500, issueType: .exception,
                        "auth.external_issuers \(entry.issuer): unsupported algorithm \(name)")
                }
                algorithms.insert(algorithm)
            }
            var profile = ExternalIssuer(
                issuer: entry.issuer, jwksURL: jwksURL, algorithms: algorithms,
                audience: entry.audience ?? config.publicFHIRBase)
            profile.leeway = Double(config.auth.leewaySeconds)
            profile.clients = entry.clients
            profiles.append(profile)
            if let ca = entry.caFile { caFiles[jwksURL] = ca }
        }
        guard introspectors.count <= 1 else {
            throw GatewayError(
                status: 500, issueType: .exception,
                "auth.external_issuers: at most one issuer may use introspection_url")
        }
        externalIssuers = profiles
        jwksCache = JWKSCache(fetcher: HTTPSJWKSFetcher(caFiles: caFiles))
        introspector = introspectors.first
    }
}
