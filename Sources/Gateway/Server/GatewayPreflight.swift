// Everything the gateway loads from its configuration before it binds a port: the configuration itself,
// policies, the client registry, signing keys, the audit identifier-hash key, the TLS certificate and key,
// the upstream CA and the external issuers. `serve` and `check` both go through `GatewayPreflight.load`, so
// a configuration that `check` passes is one that `serve` starts with (the systemd unit runs `check` as
// ExecStartPre). Every problem group is reported in one run, not only the first.

import Foundation
import GatewayCore
import GatewayCrypto
import GatewayIO
import JOSE
import Policy
import SMART

/// A problem found while loading, already worded for the operator (`path: permission denied`).
struct LoadFailure: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// Every problem that keeps the gateway from starting (one entry per group, each possibly several lines),
/// plus the warnings found on the way.
struct StartupProblems: Error, CustomStringConvertible {
    var problems: [String]
    var warnings: [String] = []
    var description: String { problems.joined(separator: "\n") }
}

/// What `GatewayRuntime` builds its services from.
struct LoadedGateway {
    let config: GatewayConfig
    let snapshot: GatewaySnapshot
    /// Newest first; the first signs.
    let signingKeys: [SigningKey]
    /// Nil only when `check` found no key yet and `serve` would create one in the audit directory.
    let auditKey: [UInt8]?
    let tls: TLSServerContext?
    let upstreamTLS: TLSClientContext?
    let trust: TrustSources
    /// Not fatal: private keys other users can read, an audit directory that cannot be written.
    let warnings: [String]
}

enum GatewayPreflight {
    /// Loads everything `serve` needs. `createMissing` (serve) creates the audit identifier-hash key on
    /// first start; `check` only verifies that it could.
    static func load(configPath: String, createMissing: Bool) throws(StartupProblems) -> LoadedGateway {
        let config: GatewayConfig
        do {
            config = try ConfigLoader.load(path: configPath)
        } catch {
            // Nothing else can be checked without a configuration; ConfigLoader already lists every error.
            throw StartupProblems(problems: [error.description])
        }
        var problems: [String] = []
        var warnings: [String] = []
        func attempt<T>(_ body: () throws -> T) -> T? {
            do {
                return try body()
            } catch let error as StartupProblems {
                problems += error.problems
            } catch {
                problems.append(MoreCommands.describe(error))
            }
            return nil
        }
        let snapshot = attempt { try GatewayRuntime.makeSnapshot(config) }
        let keys = attempt { () throws -> [SigningKey] in
            if config.auth.mode == "none", !FileManager.default.fileExists(atPath: config.auth.signingKeyDirectory) {
                // Loopback load tests only (auth.mode: none): a throw-away key for the token endpoint.
                return [try SigningKey(keyID: "ephemeral", algorithm: .es256, privateKey: PrivateKey.generateEC(.p256))]
            }
            warnings += KeyStore.warnings(directory: config.auth.signingKeyDirectory)
            return try KeyStore.load(directory: config.auth.signingKeyDirectory)
        }
        let auditKey = attempt { try AuditKey.load(config.audit, create: createMissing) }
        // Said once: when the key could not be created there, that problem already names the directory.
        if auditKey != nil, let problem = FileAccess.writeProblem(directory: config.audit.directory) {
            warnings.append("audit.directory \(config.audit.directory): \(problem.description): requests that "
                + "must be audited will fail closed (503) until it is writable")
        }
        let tls = attempt { () throws -> TLSServerContext? in
            guard let tlsConfig = config.listen.tls else { return nil }
            if let warning = FileAccess.privateKeyWarning(tlsConfig.privateKey) { warnings.append(warning) }
            // ALPN: h2 preferred, http/1.1 for everyone else (RFC 7301 §3.2, RFC 9113 §3.2).
            return try TLSServerContext(
                certificateChainFile: tlsConfig.certificateChain, privateKeyFile: tlsConfig.privateKey,
                alpn: ["h2", "http/1.1"], clientCAFile: tlsConfig.clientCA,
                handshakeTimeoutMilliseconds: config.limits.headerTimeoutMs)
        }
        let upstreamTLS = attempt { () throws -> TLSClientContext? in
            guard config.upstream.scheme == "https" else { return nil }
            return try TLSClientContext(caFile: config.upstream.caFile, alpn: ["http/1.1"])
        }
        let trust = attempt { try TrustSources(config: config) }
        guard problems.isEmpty, let snapshot, let keys, let auditKey, let tls, let upstreamTLS, let trust else {
            throw StartupProblems(problems: problems, warnings: warnings)
        }
        return LoadedGateway(
            config: config, snapshot: snapshot, signingKeys: keys, auditKey: auditKey, tls: tls,
            upstreamTLS: upstreamTLS, trust: trust, warnings: warnings)
    }
}
