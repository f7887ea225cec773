// The parts of a running gateway: long-lived services (keys, token endpoint, validator, audit sink, quota
// counters) and the immutable snapshot of configuration, clients and policies that a reload replaces
// atomically (ARCHITECTURE §3). A request keeps the snapshot it started with.

import Audit
import FHIR
public import GatewayCore
import GatewayCrypto
import JOSE
import Policy
import SMART
import SharedState
import Synchronization

/// What a reload replaces, all at once.
public final class GatewaySnapshot: Sendable {
    public let config: GatewayConfig
    let router: Router
    let classifier: FHIRClassifier
    /// Nil only with `auth.mode: none`.
    let policies: PolicySet?
    let registry: ClientRegistry
    /// The discovery document, serialised once.
    let discovery: [UInt8]
    /// The upstream FHIR base as a URL (for rewriting links the upstream writes).
    let upstreamBaseURL: String
    /// The upstream's origin as bytes: a response that does not contain it has no link to rewrite.
    let upstreamBaseBytes: [UInt8]

    init(config: GatewayConfig, policies: PolicySet?, registry: ClientRegistry) {
        self.config = config
        self.router = Router(fhirBasePath: config.fhir.basePath)
        self.upstreamBaseURL = config.upstream.url.hasSuffix("/")
            ? String(config.upstream.url.dropLast()) : config.upstream.url
        let port = config.upstream.port == (config.upstream.scheme == "https" ? 443 : 80) ? "" : ":\(config.upstream.port)"
        self.upstreamBaseBytes = Array("\(config.upstream.scheme)://\(config.upstream.host)\(port)".utf8)
        self.classifier = FHIRClassifier(
            baseSegments: config.fhir.basePath.split(separator: "/").map(String.init),
            localBases: [config.publicFHIRBase, upstreamBaseURL],
            allowedOperations: Set(["pdmp-history", "process-message"] + config.fhir.allowedOperations))
        self.policies = policies
        self.registry = registry
        self.discovery = SMARTConfiguration.document(baseURL: config.publicBaseURL).serialized()
    }
}

/// Services that live as long as the process.
public final class GatewayServices: Sendable {
    let issuer: TokenIssuer
    let authorizationServer: AuthorizationServer
    let validator: TokenValidator
    let rateLimiter: any RateLimiter
    /// Replay cache, quotas and revocations (memory or Redis, issue #8).
    let sharedState: SharedStores
    let auditSink: AuditFileSink
    let auditBuilder: AuditEventBuilder
    let clock: any Clock
    let logger: Logger
    let metrics: GatewayMetrics
    /// The runtime that owns these services (for reloads from the admin listener).
    let runtime = RuntimeReference()
    private let current: SnapshotBox

    init(
        snapshot: GatewaySnapshot, issuer: TokenIssuer, sharedState: SharedStores,
        auditSink: AuditFileSink, auditBuilder: AuditEventBuilder, jwksCache: JWKSCache?,
        externalIssuers: [ExternalIssuer], introspector: (any Introspector)? = nil,
        replayCache: (any ReplayCache)? = nil, clock: any Clock, logger: Logger
    ) {
        let current = SnapshotBox(snapshot)
        self.current = current
        self.issuer = issuer
        self.sharedState = sharedState
        self.rateLimiter = sharedState.rateLimiter
        self.auditSink = auditSink
        self.auditBuilder = auditBuilder
        self.clock = clock
        self.logger = logger
        self.metrics = GatewayMetrics(.shared)
        var serverConfig = AuthorizationServerConfig()
        serverConfig.leeway = Double(snapshot.config.auth.leewaySeconds)
        self.authorizationServer = AuthorizationServer(
            registry: snapshot.registry, issuer: issuer, replayCache: replayCache ?? sharedState.replay,
            jwksCache: jwksCache,
            config: serverConfig)
        var validatorConfig = TokenValidatorConfig()
        validatorConfig.maxTokenLength = snapshot.config.limits.tokenBytes
        self.validator = TokenValidator(
            ownIssuer: issuer, registry: { current.value.registry },
            externalIssuers: externalIssuers, jwksCache: jwksCache, introspector: introspector,
            revocation: sharedState.revocations,
            config: validatorConfig)
    }

    /// The snapshot new requests use.
    var snapshot: GatewaySnapshot { current.value }

    /// Installs a new snapshot (reload); requests in flight keep theirs.
    func install(_ snapshot: GatewaySnapshot) {
        current.value = snapshot
        authorizationServer.replaceRegistry(snapshot.registry)
    }
}

/// The gateway's own metric series, created once.
final class GatewayMetrics: Sendable {
    let registry: MetricsRegistry
    let requestDuration: Histogram
    let auditFailures: Counter
    let policyShadowDisagreements: Counter
    let reloads: Counter
    let reloadFailures: Counter

    init(_ registry: MetricsRegistry) {
        self.registry = registry
        requestDuration = registry.histogram(
            "gateway_request_duration_seconds", help: "Time from a complete request to its response")
        auditFailures = registry.counter(
            "gateway_audit_unavailable_responses_total", help: "Requests answered 503 because the audit sink failed")
        policyShadowDisagreements = registry.counter(
            "gateway_policy_shadow_disagreements_total",
            help: "Requests whose shadow-mode decision differs from the enforced one")
        reloads = registry.counter("gateway_reloads_total", help: "Successful configuration and policy reloads")
        reloadFailures = registry.counter(
            "gateway_reload_failures_total", help: "Reloads refused because the new configuration was invalid")
    }

    /// Series already looked up, so that the request path does not render label strings each time.
    private let responseSeries = Mutex<[String: Counter]>([:])

    func responses(status: Int, route: String) -> Counter {
        let key = route + "|" + String(status)
        if let counter = responseSeries.withLock({ $0[key] }) { return counter }
        let counter = registry.counter(
            "gateway_http_requests_total", help: "Requests answered, by status and route",
            labels: [("status", String(status)), ("route", route)])
        responseSeries.withLock { $0[key] = counter }
        return counter
    }

    func decisions(_ outcome: String) -> Counter {
        registry.counter("gateway_policy_decisions_total", help: "Policy decisions", labels: [("decision", outcome)])
    }
}

/// The current snapshot, swapped atomically under a lock held only for the pointer copy.
final class SnapshotBox: Sendable {
    private let mutex: Mutex<GatewaySnapshot>

    init(_ snapshot: GatewaySnapshot) { mutex = Mutex(snapshot) }

    var value: GatewaySnapshot {
        get { mutex.withLock { $0 } }
        set { mutex.withLock { $0 = newValue } }
    }
}

/// Set once the runtime exists.
final class RuntimeReference: Sendable {
    private let value = Mutex<GatewayRuntime?>(nil)

    func install(_ runtime: GatewayRuntime) { value.withLock { $0 = runtime } }

    var runtime: GatewayRuntime? { value.withLock { $0 } }
}

extension GatewayServices {
    /// Signs an access token with the gateway's key, as the token endpoint would (for tests and tools).
    public func issueTestToken(
        clientID: String, scopes: [String], now: Double, extraClaims: [(String, JSONValue)]
    ) throws -> String {
        try issuer.issue(clientID: clientID, scopes: scopes, now: now, extraClaims: extraClaims).accessToken
    }
}
