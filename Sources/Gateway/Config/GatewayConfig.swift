// The configuration schema (`gateway.yaml`). Every field is documented here and in
// docs/configuration.md: meaning, default, unit, and the security effect of the unsafe choice.
// Paths in the file are relative to the directory of the config file.

public import Foundation
public import GatewayCore
public import GatewayHTTP
public import Policy

/// The whole configuration, immutable once loaded. A reload builds a new one and swaps it atomically.
public struct GatewayConfig: Sendable {
    /// The public TLS listener for requesters.
    public var listen: ListenerConfig
    /// The origin that requesters use to reach the gateway, e.g. `https://pdmp.example.gov`.
    /// Used in token audiences, the discovery document and rewritten upstream links.
    /// Default: `https://<listen.address>:<listen.port>`.
    public var publicBaseURL: String
    /// The loopback-only operations listener (health, metrics, reload, client registration).
    public var admin: AdminConfig
    public var upstream: UpstreamConfig
    public var fhir: FHIRConfig
    public var auth: AuthConfig
    /// Directory of policy files (`*.yaml`); tests under `tests/` inside it. Default `policies`.
    public var policyDirectory: String
    public var audit: AuditConfig
    /// `memory` (default; one instance) or a `redis://host:port` URL shared by several instances.
    public var sharedState: String
    public var limits: LimitsConfig
    /// Number of event loops (threads serving connections). Default 0 = one per core.
    public var eventLoops: Int
    public var logging: LoggingConfig
    /// The file this configuration was read from (for reload), absolute.
    public var sourcePath: String
    /// IANA zone in which policies compute `time.hour` and `time.weekday` (`policy_time_zone`). Default UTC.
    public var policyTimeZone: TimeZone = TimeZone(identifier: "UTC")!

    /// What every policy set loaded under this configuration is compiled with.
    public var policyOptions: PolicyOptions { PolicyOptions(timeZone: policyTimeZone) }

    /// The FHIR base requesters use, e.g. `https://pdmp.example.gov/fhir`.
    public var publicFHIRBase: String { publicBaseURL + fhir.basePath }
    /// The token endpoint URL; the only audience accepted in client assertions.
    public var tokenURL: String { publicBaseURL + "/auth/token" }
}

public struct ListenerConfig: Sendable {
    /// Address to bind. Default `127.0.0.1`; use `0.0.0.0` or `::` to serve other hosts.
    public var address: String
    /// TCP port. Default 8443.
    public var port: Int
    /// TLS settings; required unless `plaintext_for_testing: true` (refused on non-loopback addresses).
    public var tls: TLSConfig?
}

public struct TLSConfig: Sendable {
    /// PEM file with the server certificate followed by its chain.
    public var certificateChain: String
    /// PEM file with the private key (PKCS#8 or traditional). Keep it readable by the gateway user only.
    public var privateKey: String
    /// PEM bundle of CAs whose client certificates are accepted (mTLS); nil = no client certificates.
    public var clientCA: String?
    /// ALPN protocols offered, in server preference order. Default `[h2, http/1.1]`.
    public var alpn: [String]
}

public struct AdminConfig: Sendable {
    /// Address of the admin listener. Default `127.0.0.1`. It has no authentication: never expose it.
    public var address: String
    /// Port. Default 9090; 0 disables the admin listener.
    public var port: Int
}

public struct UpstreamConfig: Sendable {
    /// The upstream FHIR base URL, `http://` or `https://`, e.g. `http://127.0.0.1:8090/fhir`.
    public var url: String
    /// CA bundle to verify an `https` upstream; nil = the system trust store.
    public var caFile: String?
    /// Value of the `Authorization` header sent upstream in place of the requester's (the client's own
    /// header is never forwarded). Nil = no Authorization header upstream.
    public var authorization: String?
    /// TCP connect timeout. Default 5 s.
    public var connectTimeoutMs: UInt64
    /// Time allowed for the upstream's complete response head. Default 60 s. Exceeded: 504.
    public var responseTimeoutMs: UInt64
    /// Idle keep-alive connections kept per event loop. Default 32.
    public var maxIdleConnections: Int
    /// How long an idle upstream connection is kept. Default 30 s.
    public var idleTimeoutMs: UInt64
    /// Largest upstream response buffered for inspection. Default 32 MiB. Larger: 502.
    public var maxInspectedBodyBytes: Int

    /// Parsed parts of `url`.
    public var scheme: String
    public var host: String
    public var port: Int
    /// The upstream's base path, e.g. `/fhir` (no trailing slash; empty for the root).
    public var basePath: String
}

public struct FHIRConfig: Sendable {
    /// Path of the FHIR base on the gateway. Default `/fhir`. Matched case-sensitively, whole segments.
    public var basePath: String
    /// Operations allowed besides the PDMP ones (`pdmp-history`, `process-message`), without `$`.
    public var allowedOperations: [String]
}

public struct AuthConfig: Sendable {
    /// `smart` (default): every FHIR request needs a valid bearer token. `none`: no authentication, for
    /// load tests only; refused unless the listener is bound to a loopback address.
    public var mode: String
    /// Issuer (`iss`) of the gateway's own access tokens. Default: `publicBaseURL`.
    public var issuer: String
    /// Directory holding the token-signing keys (`pdmp-gateway keys generate`). Default `keys`.
    public var signingKeyDirectory: String
    /// Lifetime of issued access tokens. Default 300 s; at most 300 s (SMART backend services §1.7).
    public var tokenLifetimeSeconds: Int
    /// Allowed clock skew when checking `exp`/`nbf`/`iat`, both directions. Default 60 s.
    public var leewaySeconds: Int
    /// The requester registry file. Default `clients.yaml`.
    public var clientsFile: String
    /// Other authorization servers whose tokens are accepted.
    public var externalIssuers: [ExternalIssuerConfig]
}

public struct ExternalIssuerConfig: Sendable {
    /// Exact `iss` value.
    public var issuer: String
    /// HTTPS URL of the issuer's JWKS (JWT validation), or nil when `introspection_url` is used.
    public var jwksURL: String?
    /// RFC 7662 endpoint for opaque tokens.
    public var introspectionURL: String?
    /// Algorithms accepted from this issuer, e.g. `[ES256]`. Required with `jwks_url`.
    public var algorithms: [String]
    /// Required audience. Default: the gateway's public FHIR base.
    public var audience: String?
    /// Credentials for the introspection endpoint (client id, secret), if needed.
    public var introspectionClientID: String?
    public var introspectionClientSecret: String?
    /// PEM CA bundle that verifies this issuer's `jwks_url` / `introspection_url` server (a private CA);
    /// nil = the system trust store.
    public var caFile: String? = nil
    /// `clients`: this issuer's client ids bound to registered client ids. A token of an unlisted client
    /// never acts as a registered client (its principal is `<issuer>#<client id>`).
    public var clients: [String: String] = [:]
}

public struct AuditConfig: Sendable {
    /// Whether decisions are recorded at all. Default true. `false` exists only for load-test comparisons
    /// (deploy/loadtest: the same scenario with and without the audit sink); it is refused unless the
    /// listener is on loopback, and the gateway logs a warning at start. Never turn it off in service.
    public var enabled: Bool = true
    /// Directory of the hash-chained NDJSON audit files. Default `audit`.
    public var directory: String
    /// Rotate a file at this size. Default 64 MiB.
    public var rotateBytes: Int
    /// Rotate a file this long after the process opened it. Default 24 h.
    public var rotateAgeSeconds: Double
    /// Key for hashing identifiers in audit records (hex or a file path). Default: generated and stored
    /// in the audit directory.
    public var identifierHashKeyFile: String?
    /// Base URL of an Audit Record Repository (FHIR server) to ship records to; nil = no shipping.
    public var repositoryURL: String?
    /// How records are shipped to `repositoryURL` (ConfigLoader+Audit.swift).
    public var shipping = AuditShippingConfig()
}

/// The repository connection and retry settings of audit shipping (issue #7 §3).
public struct AuditShippingConfig: Sendable {
    /// PEM CA bundle that verifies an `https` repository (a private CA); nil = the system trust store.
    public var caFile: String?
    /// `Authorization` header value sent with every Bundle (`repository_authorization`, or `Bearer <token>`
    /// from `repository_token_file`); nil = none.
    public var authorization: String?
    /// Records per `batch` Bundle. Default 200.
    public var batchSize = 200
    /// First retry delay after a failed POST, in seconds; doubles per failure. Default 0.5.
    public var initialBackoffSeconds = 0.5
    /// The longest retry delay, in seconds. Default 30.
    public var maxBackoffSeconds = 30.0
}

/// Printing the configuration (a log line, a debugger) never shows the credential.
extension AuditShippingConfig: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String {
        "AuditShippingConfig(caFile: \(caFile ?? "nil"), "
            + "authorization: \(authorization == nil ? "nil" : "[redacted]"), batchSize: \(batchSize), "
            + "initialBackoffSeconds: \(initialBackoffSeconds), maxBackoffSeconds: \(maxBackoffSeconds))"
    }

    public var debugDescription: String { description }
}

public struct LimitsConfig: Sendable {
    /// Longest request line. Default 8 KiB. Exceeded: 414.
    public var requestLineBytes: Int
    /// Total size of all request headers. Default 32 KiB. Exceeded: 431.
    public var headerBytes: Int
    /// Most request headers. Default 100. Exceeded: 431.
    public var headerCount: Int
    /// Largest request body. Default 8 MiB. Exceeded: 413.
    public var bodyBytes: Int
    /// Longest bearer token. Default 8 KiB. Exceeded: 431 (checked before any parsing).
    public var tokenBytes: Int
    /// Total time allowed to receive a request head (not reset per byte). Default 10 s.
    public var headerTimeoutMs: UInt64
    /// Idle keep-alive time between requests. Default 60 s.
    public var idleTimeoutMs: UInt64
    /// Most concurrent connections. Default 10,000.
    public var maxConnections: Int
    /// Token requests accepted per client address per minute (counted on the socket peer). Default 600.
    public var tokenRequestsPerMinute: Int
    /// HTTP/2 protocol limits and timeouts (`limits.http2`, ConfigLoader+HTTP2.swift).
    public var http2 = HTTP2Config()
}

/// The `limits.http2` section: what an HTTP/2 client may do on one connection (issue #3 item 2).
public struct HTTP2Config: Sendable {
    /// Streams, header list, CONTINUATION, reset, SETTINGS and PING limits and flow-control windows; the
    /// defaults are `HTTP2Limits()`'s.
    public var limits = HTTP2Limits()
    /// Time allowed for the client preface and for each request header block. Default `limits.header_timeout`.
    public var headerTimeoutMs: UInt64 = 10_000
    /// Time a connection without open streams is kept. Default `limits.idle_timeout`.
    public var idleTimeoutMs: UInt64 = 60_000
}

public struct LoggingConfig: Sendable {
    /// Minimum level: trace, debug, info, notice, warning, error, critical. Default info.
    public var level: LogLevel
}
