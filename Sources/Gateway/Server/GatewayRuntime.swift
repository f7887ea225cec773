// The running gateway: builds the services from a configuration, starts the event loops, the TLS
// listener and the admin listener, reloads on SIGHUP / `POST /admin/reload`, and drains on SIGTERM
// (ARCHITECTURE §3, issue #2 item 8).

import Audit
import Dispatch
import FHIR
import Foundation
public import GatewayCore
import GatewayCrypto
import GatewayHTTP
import GatewayIO
import JOSE
import Policy
import SMART
import SharedState
import Synchronization

public final class GatewayRuntime: Sendable {
    public let services: GatewayServices
    let group: EventLoopGroup
    let tls: TLSServerContext?
    let handlers: PerLoop<FrontHandler>
    let listener: Listener
    let adminListener: Listener?
    let connectionIDs = Atomic<UInt64>(0)
    let draining = Atomic<Bool>(false)
    let configPath: String
    let reloadLock = Mutex(())
    /// Reloads when a policy file changes (issue #6 item 5).
    let policyWatcher: PolicyWatcher
    /// Ships audit records to `audit.repository_url`, when configured (issue #7 §3).
    let auditShipping: AuditShipping?

    /// The bound public port (useful when 0 was configured).
    public var port: Int { listener.port }
    public var adminPort: Int? { adminListener?.port }

    /// Builds everything and starts listening. Throws with every configuration problem it finds.
    public init(configPath: String, logger: Logger, clock: any Clock = SystemClock()) throws {
        // The same loading path as `pdmp-gateway check` (GatewayPreflight), so check passes what serve runs.
        let loaded = try GatewayPreflight.load(configPath: configPath, createMissing: true)
        for warning in loaded.warnings { logger.warning("configuration warning", metadata: ["warning": warning]) }
        let config = loaded.config
        self.configPath = config.sourcePath
        services = try Self.makeServices(loaded, logger: logger, clock: clock)
        group = EventLoopGroup(count: config.eventLoops == 0 ? EventLoopGroup.coreCount : config.eventLoops)
        auditShipping = try AuditShipping.start(
            config: config.audit, sink: services.auditSink, loop: group.loops[0], logger: logger)
        tls = loaded.tls
        let services = services
        let upstream = config.upstream
        let upstreamTLS = loaded.upstreamTLS
        handlers = PerLoop(group.loops) { loop in
            let pool = UpstreamPool(
                eventLoop: loop, host: upstream.host, port: upstream.port, tls: upstreamTLS,
                maxIdle: upstream.maxIdleConnections, connectTimeoutMs: upstream.connectTimeoutMs,
                responseTimeoutMs: upstream.responseTimeoutMs, idleTimeoutMs: upstream.idleTimeoutMs)
            return FrontHandler(services: services, pool: pool)
        }
        let handlers = handlers
        let ids = ConnectionIDs()
        let logger = services.logger
        let address = config.listen.address
        listener = try Listener(group: group, host: address, port: config.listen.port, tls: tls) { stream in
            // Each connection gets the limits of the configuration current when it was accepted, so a reload
            // changes them for new connections; open ones keep theirs.
            let limits = ConnectionLimits(services.snapshot.config.limits)
            // The protocol is known once the TLS handshake chose it through ALPN; plain TCP is HTTP/1.1.
            guard let secure = stream as? TLSStream else {
                return Self.serve(
                    stream, http2: nil, handlers: handlers, limits: limits.http1, ids: ids, logger: logger)
            }
            secure.onHandshake = { [unowned secure] result in
                guard case .success(let info) = result else { return }
                let h2 = info.alpn == "h2" ? limits.http2 : nil
                Self.serve(secure, http2: h2, handlers: handlers, limits: limits.http1, ids: ids, logger: logger)
            }
        }
        if config.admin.port != 0 {
            let admin = PerLoop(group.loops) { loop in AdminHandler(services: services, loop: loop) }
            adminListener = try Listener(group: group, host: config.admin.address, port: config.admin.port) { stream in
                let connection = HTTP1ServerConnection(
                    stream: stream, handler: admin.value(for: stream.eventLoop), connectionID: ids.next(),
                    errorRenderer: Responses.framingError)
                connection.start()
            }
        } else {
            adminListener = nil
        }
        policyWatcher = PolicyWatcher(
            directory: { [services] in services.snapshot.config.policyDirectory },
            files: { [services] in [services.snapshot.config.auth.clientsFile] }
        ) { [services] in
            guard let runtime = services.runtime.runtime else { return }
            services.logger.notice("policy or clients file changed; reloading")
            runtime.reload()
        }
        services.runtime.install(self)
        policyWatcher.start()
        if !config.audit.enabled {
            logger.warning("audit.enabled is false: no decision is recorded (for load-test comparisons only)")
        }
        logger.info("gateway listening", metadata: [
            "listen.address": "\(config.listen.address):\(listener.port)", "fhir.base": config.publicFHIRBase,
            "upstream.url": config.upstream.url, "admin.port": adminListener.map { String($0.port) } ?? "off",
        ])
    }

    /// Starts an HTTP/1.1 or HTTP/2 server connection on an accepted stream and tracks it for draining.
    private static func serve(
        _ stream: any ByteStream, http2: HTTP2Settings?, handlers: PerLoop<FrontHandler>, limits: HTTPServerLimits,
        ids: ConnectionIDs, logger: Logger
    ) {
        let handler = handlers.value(for: stream.eventLoop)
        let id = ids.next()
        if let http2 {
            let connection = HTTP2ServerConnection(
                stream: stream, handler: handler, limits: http2.server, http2: http2.protocolLimits, connectionID: id,
                errorRenderer: Responses.framingError, logger: logger)
            handler.connections[id] = connection
            connection.onClose = { [weak handler] _ in handler?.connections[id] = nil }
            connection.start()
        } else {
            let connection = HTTP1ServerConnection(
                stream: stream, handler: handler, limits: limits, connectionID: id,
                errorRenderer: Responses.framingError, logger: logger)
            handler.connections[id] = connection
            connection.onClose = { [weak handler] _ in handler?.connections[id] = nil }
            connection.start()
        }
    }

    /// Policies and the client registry; both are read so that one run reports the problems of both.
    static func makeSnapshot(_ config: GatewayConfig) throws(StartupProblems) -> GatewaySnapshot {
        var problems: [String] = []
        var policies: PolicySet?
        do {
            // `auth.mode: none` (loopback load tests only) evaluates no policy; every other mode needs a
            // valid policy set: an empty, missing or broken directory never means "allow" (POL-01).
            if config.auth.mode != "none" {
                policies = try PolicySet.load(directory: config.policyDirectory, options: config.policyOptions)
            }
        } catch {
            problems.append(ConfigError(error.errors).description)
        }
        var clients: [ClientEntry] = []
        do {
            clients = try ClientsFile.load(path: config.auth.clientsFile)
        } catch {
            problems.append(error.description)
        }
        guard problems.isEmpty else { throw StartupProblems(problems: problems) }
        return GatewaySnapshot(config: config, policies: policies, registry: ClientsFile.registry(clients))
    }

    static func makeServices(_ loaded: LoadedGateway, logger: Logger, clock: any Clock) throws -> GatewayServices {
        let config = loaded.config
        let snapshot = loaded.snapshot
        let keys = loaded.signingKeys
        let now = clock.now()
        let lifetime = Double(config.auth.tokenLifetimeSeconds)
        // Older keys verify the tokens they signed until those expire (key rotation).
        let previous = try keys.dropFirst().map { (key: try $0.verificationKey(), retainUntil: now + lifetime) }
        let issuer = TokenIssuer(
            issuer: config.auth.issuer, audience: config.publicFHIRBase, activeKey: keys[0], previousKeys: previous,
            lifetime: config.auth.tokenLifetimeSeconds)
        guard let auditKey = loaded.auditKey else { throw LoadFailure("no audit identifier-hash key was loaded") }
        let sink = AuditFileSink(
            configuration: AuditFileSink.Configuration(
                directory: config.audit.directory, maxFileBytes: config.audit.rotateBytes,
                maxFileAge: config.audit.rotateAgeSeconds, instanceID: AuditKey.instanceID),
            clock: clock, logger: logger)
        let builder = AuditEventBuilder(configuration: AuditEventBuilder.Configuration(
            instanceID: AuditKey.instanceID, site: URLComponents(string: config.publicBaseURL)?.host,
            fhirBaseURL: config.publicFHIRBase, tokenEndpointURL: config.tokenURL, identifierHashKey: auditKey))
        // External issuers, the HTTPS JWKS fetcher and introspection (Sources/Gateway/Auth/TrustSources.swift).
        let trust = loaded.trust
        // Without Redis, used assertion jtis also go to a file so that a restart cannot re-open them
        // (TOK-01 (d); Sources/Gateway/Auth/DurableReplayCache.swift).
        let durableReplay = config.sharedState == "memory"
            ? DurableReplayCache(
                path: (config.audit.directory as NSString).appendingPathComponent(DurableReplayCache.fileName),
                clock: { clock.now() }, logger: logger)
            : nil
        return GatewayServices(
            snapshot: snapshot, issuer: issuer,
            sharedState: try makeSharedState(config: config, logger: logger, clock: clock), auditSink: sink,
            auditBuilder: builder, jwksCache: trust.jwksCache, externalIssuers: trust.externalIssuers,
            introspector: trust.introspector, replayCache: durableReplay, clock: clock, logger: logger)
    }

    /// `shared_state: memory` or a Redis URL (issue #8). Redis is not required to be up at start: the
    /// gateway starts, `/readyz` fails and the token endpoint answers 503 until it answers.
    static func makeSharedState(config: GatewayConfig, logger: Logger, clock: any Clock) throws -> SharedStores {
        let clockFunction: @Sendable () -> Double = { clock.now() }
        guard config.sharedState != "memory" else { return SharedStores.memory(clock: clockFunction) }
        let loops = config.eventLoops == 0 ? EventLoopGroup.coreCount : config.eventLoops
        // One connection per event loop, one for the background worker and one for the admin listener's
        // revocations: callers never wait for a connection.
        let options = RedisClientOptions(connections: loops + 2)
        do {
            return try SharedStores.redis(
                url: config.sharedState, options: options, clock: clockFunction, metrics: .shared, logger: logger)
        } catch {
            // `SharedStores.redis` throws only `RedisFailure` (typed throws).
            throw LoadFailure("shared_state: \(error.reason)")
        }
    }

    /// Re-reads configuration, clients and policies; installs them only if all are valid.
    /// - Returns: the problems that kept the old configuration, or an empty list on success.
    @discardableResult
    public func reload() -> [String] {
        reloadLock.withLock { _ in
            do {
                let config = try ConfigLoader.load(path: configPath)
                let snapshot = try Self.makeSnapshot(config)
                try tls?.reload()
                services.install(snapshot)
                services.metrics.reloads.increment()
                services.logger.notice("configuration reloaded", metadata: ["config.path": configPath])
                return []
            } catch {
                services.metrics.reloadFailures.increment()
                let problems = "\(error)".split(separator: "\n").map(String.init)
                services.logger.error("reload refused; the running configuration stays", metadata: [
                    "config.path": configPath, "reload.errors": problems.joined(separator: " | "),
                ])
                return problems
            }
        }
    }

    /// Stops accepting, lets in-flight requests finish (up to `timeoutSeconds`), then stops the loops and
    /// the audit writer (every record of an answered request is already durable).
    public func drain(timeoutSeconds: Double = 30) {
        guard !draining.exchange(true, ordering: .relaxed) else { return }
        services.logger.notice("draining")
        policyWatcher.stop()
        let stopped = DispatchSemaphore(value: 0)
        listener.close { stopped.signal() }
        stopped.wait()
        let handlers = handlers
        for loop in group.loops {
            loop.execute { for connection in handlers.value(for: loop).connections.values { connection.drain() } }
        }
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while Date() < deadline, openConnections() > 0 {
            usleep(20_000)
        }
        adminListener?.close()
        // The shipper uses loop 0 for its HTTP client: stop it while the loops still run.
        auditShipping?.stop()
        for loop in group.loops {
            loop.execute { handlers.value(for: loop).pool.close() }
        }
        group.shutdown()
        services.sharedState.stop()
        services.auditSink.stop()
        services.logger.notice("stopped")
    }

    func openConnections() -> Int {
        let count = Atomic<Int>(0)
        let done = DispatchSemaphore(value: 0)
        let handlers = handlers
        for loop in group.loops {
            loop.execute {
                count.add(handlers.value(for: loop).connections.count, ordering: .relaxed)
                done.signal()
            }
        }
        for _ in group.loops { done.wait() }
        return count.load(ordering: .relaxed)
    }
}

/// Process-unique connection ids.
final class ConnectionIDs: Sendable {
    private let counter = Atomic<UInt64>(0)
    func next() -> UInt64 { counter.add(1, ordering: .relaxed).newValue }
}

/// The audit identifier-hash key and this instance's id.
enum AuditKey {
    /// Identifies this gateway process in audit records (`source.observer`).
    static let instanceID = (ProcessInfo.processInfo.hostName) + "-" + String(getpid())

    /// Reads the configured key file, or the one in the audit directory. When neither is configured nor
    /// present: with `create`, makes one (mode 0600) on first start; without (`check`), returns nil after
    /// checking that it could be created.
    static func load(_ config: AuditConfig, create: Bool) throws -> [UInt8]? {
        let configured = config.identifierHashKeyFile
        let path = configured ?? (config.directory as NSString).appendingPathComponent("identifier-hash.key")
        do {
            let key = try FileAccess.contents(path)
            guard key.count >= 32 else {
                throw LoadFailure(
                    "audit.identifier_hash_key: \(path): the key needs at least 32 bytes (it has \(key.count))")
            }
            return key
        } catch let error as FileAccessError {
            guard configured == nil, error.reason == "no such file" else {
                throw LoadFailure("audit.identifier_hash_key: \(error)")
            }
        }
        guard create else {
            if let problem = FileAccess.writeProblem(directory: config.directory) {
                throw LoadFailure("audit.directory: cannot create the identifier hash key in it: \(problem)")
            }
            return nil
        }
        try FileManager.default.createDirectory(atPath: config.directory, withIntermediateDirectories: true)
        let key = SecureRandom.bytes(32)
        guard FileManager.default.createFile(atPath: path, contents: Data(key), attributes: [.posixPermissions: 0o600]) else {
            throw LoadFailure("cannot create \(path)")
        }
        return key
    }
}

/// The limits a client connection is created with (`limits`, `limits.http2`).
struct ConnectionLimits: Sendable {
    let http1: HTTPServerLimits
    let http2: HTTP2Settings

    init(_ config: LimitsConfig) {
        http1 = HTTPServerLimits(
            maxRequestLineBytes: config.requestLineBytes, maxHeaderBytes: config.headerBytes,
            maxHeaderCount: config.headerCount, maxBodyBytes: config.bodyBytes,
            headerReadTimeoutMs: config.headerTimeoutMs, idleTimeoutMs: config.idleTimeoutMs)
        http2 = HTTP2Settings(config.http2, shared: http1)
    }
}

/// What an HTTP/2 server connection is created with: the shared limits with the HTTP/2 timeouts, and the
/// protocol limits (`limits.http2`).
struct HTTP2Settings: Sendable {
    let server: HTTPServerLimits
    let protocolLimits: HTTP2Limits

    /// HTTP/2 has its own header-read and idle timeouts; body and write limits are the shared ones.
    init(_ config: HTTP2Config, shared: HTTPServerLimits) {
        var server = shared
        server.headerReadTimeoutMs = config.headerTimeoutMs
        server.idleTimeoutMs = config.idleTimeoutMs
        self.server = server
        protocolLimits = config.limits
    }
}
