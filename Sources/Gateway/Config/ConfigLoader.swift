// Reads `gateway.yaml` into a `GatewayConfig`, reporting every problem as `file:line:column: key: problem`
// (issue #2 item 7). Unknown keys are errors: a misspelt security setting must never be silently ignored.

import Foundation
import GatewayCore
public import GatewayYAML
import JOSE

/// All problems found in a configuration file.
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    public let errors: [YAMLDecodingError]
    public init(_ errors: [YAMLDecodingError]) { self.errors = errors }
    public var description: String { errors.map(\.description).joined(separator: "\n") }
}

public enum ConfigLoader {
    /// Loads and validates the configuration at `path`.
    public static func load(path: String) throws(ConfigError) -> GatewayConfig {
        let absolute = absolutePath(path, relativeTo: FileManager.default.currentDirectoryPath)
        let root: YAMLNode
        do {
            root = try YAMLParser.parse(contentsOfFile: absolute)
        } catch {
            throw ConfigError([error])
        }
        return try decode(root, sourcePath: absolute)
    }

    /// Decodes a parsed document; `sourcePath` anchors relative paths.
    public static func decode(_ root: YAMLNode, sourcePath: String) throws(ConfigError) -> GatewayConfig {
        let reader = Reader(directory: (sourcePath as NSString).deletingLastPathComponent)
        let config = reader.read(root, sourcePath: sourcePath)
        guard reader.errors.isEmpty, let config else { throw ConfigError(reader.errors) }
        return config
    }

    static func absolutePath(_ path: String, relativeTo directory: String) -> String {
        let joined = path.hasPrefix("/") ? path : directory + "/" + path
        return (joined as NSString).standardizingPath
    }
}

/// Collects errors while reading so that one run reports all of them.
class ConfigProblems {
    var errors: [YAMLDecodingError] = []

    func attempt<T>(_ body: () throws -> T) -> T? {
        do {
            return try body()
        } catch let error as YAMLDecodingError {
            errors.append(error)
        } catch {
            errors.append(YAMLDecodingError(mark: YAMLMark(file: "", line: 0, column: 0), path: "", problem: "\(error)"))
        }
        return nil
    }
}

private final class Reader: ConfigProblems {
    let directory: String

    init(directory: String) { self.directory = directory }

    /// Keeps the problems of a section read outside this class (ConfigLoader+*.swift).
    func collect<T>(_ read: (T?, [YAMLDecodingError])) -> T? {
        errors.append(contentsOf: read.1)
        return read.0
    }

    func keys(_ node: YAMLNode, _ allowed: [String]) {
        errors.append(contentsOf: node.unknownKeys(allowed: allowed))
    }

    func path(_ value: String) -> String { ConfigLoader.absolutePath(value, relativeTo: directory) }

    func read(_ root: YAMLNode, sourcePath: String) -> GatewayConfig? {
        guard root.mappingEntries != nil else {
            errors.append(root.mismatch("a mapping of configuration sections"))
            return nil
        }
        keys(root, [
            "listen", "public_base_url", "admin", "upstream", "fhir", "auth", "policies", "audit", "shared_state",
            "limits", "event_loops", "logging", "shared_state_password_file", "policy_time_zone",
        ])
        let listen = readListen(root)
        let admin = readAdmin(root)
        let upstream = readUpstream(root)
        let fhir = readFHIR(root)
        let limits = readLimits(root)
        let logging = readLogging(root)
        let eventLoops = attempt { () throws(YAMLDecodingError) -> Int in
            let n = try root.optionalInt(at: "event_loops") ?? 0
            guard (0...256).contains(n) else { throw YAMLDecodingError(at: root["event_loops"]!, "must be 0...256") }
            return n
        }
        let publicBase = attempt { () throws(YAMLDecodingError) -> String? in
            guard let node = try root.optional("public_base_url") else { return nil }
            let value = try node.string()
            guard value.hasPrefix("https://") || value.hasPrefix("http://"), !value.hasSuffix("/"),
                  URLComponents(string: value)?.host?.isEmpty == false, URLComponents(string: value)?.path == ""
            else { throw YAMLDecodingError(at: node, "must be an origin such as https://pdmp.example.gov") }
            return value
        } ?? nil
        // `time.hour` / `time.weekday` in the PDMP's own zone (an IANA name; daylight saving follows it).
        let policyZone = attempt { () throws(YAMLDecodingError) -> TimeZone in
            guard let node = try root.optional("policy_time_zone") else { return TimeZone(identifier: "UTC")! }
            let name = try node.string()
            guard name.contains("/") || name == "UTC", let zone = TimeZone(identifier: name) else {
                throw YAMLDecodingError(at: node, "must be an IANA time zone such as America/Chicago or UTC")
            }
            return zone
        }
        let policies = attempt { path(try root.optionalString(at: "policies") ?? "policies") }
        let audit = readAudit(root)
        let sharedState = attempt { () throws(YAMLDecodingError) -> String in
            let value = try root.optionalString(at: "shared_state") ?? "memory"
            guard value == "memory" || value.hasPrefix("redis://") else {
                throw YAMLDecodingError(at: root["shared_state"]!, "must be 'memory' or a redis:// URL")
            }
            return value
        }
        guard let listen, let admin, let upstream, let fhir, let limits, let logging, let eventLoops,
              let policies, let policyZone, let audit, let sharedState, let sharedStateURL = redisPassword(root, url: sharedState)
        else { return nil }
        let host = listen.address.contains(":") ? "[\(listen.address)]" : listen.address
        let scheme = listen.tls == nil ? "http" : "https"
        let base = publicBase ?? "\(scheme)://\(host):\(listen.port)"
        guard let auth = readAuth(root, publicBase: base, listen: listen) else { return nil }
        if !audit.enabled, !Self.isLoopback(listen.address) {
            errors.append(YAMLDecodingError(
                at: root["audit"]?["enabled"] ?? root, "false is only allowed when listen.address is loopback"))
            return nil
        }
        return GatewayConfig(
            listen: listen, publicBaseURL: base, admin: admin, upstream: upstream, fhir: fhir, auth: auth,
            policyDirectory: policies, audit: audit, sharedState: sharedStateURL, limits: limits, eventLoops: eventLoops,
            logging: logging, sourcePath: sourcePath, policyTimeZone: policyZone)
    }

    /// `shared_state_password_file`: the Redis password from a file (a mounted Kubernetes Secret, a
    /// credentials file), so that it need not sit in gateway.yaml. Read at start and at every reload.
    func redisPassword(_ root: YAMLNode, url: String) -> String? {
        guard let node = attempt({ try root.optional("shared_state_password_file") }) ?? nil else { return url }
        guard let file = attempt({ path(try node.string()) }) else { return nil }
        guard url.hasPrefix("redis://"), var parts = URLComponents(string: url) else {
            errors.append(YAMLDecodingError(at: node, "applies only to a redis:// shared_state"))
            return nil
        }
        guard parts.password == nil else {
            errors.append(YAMLDecodingError(at: node, "shared_state already has a password: give it in one place"))
            return nil
        }
        let bytes: [UInt8]
        do {
            bytes = try FileAccess.contents(file)
        } catch {
            errors.append(YAMLDecodingError(at: node, "cannot read \(error)"))
            return nil
        }
        // A trailing newline (echo, most editors) is not part of the password.
        let password = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .newlines)
        guard !password.isEmpty else {
            errors.append(YAMLDecodingError(at: node, "\(file) is empty"))
            return nil
        }
        parts.password = password
        if parts.user == nil { parts.user = "" }
        guard let combined = parts.string else {
            errors.append(YAMLDecodingError(at: node, "the password cannot be put into the Redis URL"))
            return nil
        }
        return combined
    }

    func readListen(_ root: YAMLNode) -> ListenerConfig? {
        guard let node = attempt({ try root.required("listen") }) else { return nil }
        keys(node, ["address", "port", "tls", "plaintext_for_testing"])
        let address = attempt { try node.optionalString(at: "address") ?? "127.0.0.1" }
        let port = attempt { try Self.port(node, "port", default: 8443) }
        let plaintext = attempt { try node.optionalBool(at: "plaintext_for_testing") ?? false }
        var tls: TLSConfig?
        if let tlsNode = attempt({ try node.optional("tls") }) ?? nil {
            keys(tlsNode, ["certificate", "private_key", "client_ca", "alpn"])
            let cert = attempt { path(try tlsNode.string(at: "certificate")) }
            let key = attempt { path(try tlsNode.string(at: "private_key")) }
            let ca = attempt { try tlsNode.optionalString(at: "client_ca").map(path) } ?? nil
            let alpn = attempt { () throws(YAMLDecodingError) -> [String] in
                let list = try tlsNode.optionalStringList(at: "alpn") ?? ["h2", "http/1.1"]
                for p in list where p != "h2" && p != "http/1.1" {
                    throw YAMLDecodingError(at: tlsNode["alpn"]!, "unsupported protocol '\(p)' (h2, http/1.1)")
                }
                return list
            }
            if let cert, let key, let alpn {
                for file in [cert, key] + [ca].compactMap({ $0 }) {
                    if let problem = FileAccess.readProblem(file) {
                        errors.append(YAMLDecodingError(at: tlsNode, "cannot read \(problem)"))
                    }
                }
                tls = TLSConfig(certificateChain: cert, privateKey: key, clientCA: ca, alpn: alpn)
            }
        }
        guard let address, let port, let plaintext else { return nil }
        if tls == nil {
            if !plaintext {
                errors.append(YAMLDecodingError(at: node, "missing 'tls' (the gateway terminates TLS)"))
                return nil
            }
            if !Self.isLoopback(address) {
                errors.append(YAMLDecodingError(at: node, "plaintext_for_testing is only allowed on a loopback address"))
                return nil
            }
        }
        return ListenerConfig(address: address, port: port, tls: tls)
    }

    func readAdmin(_ root: YAMLNode) -> AdminConfig? {
        guard let node = attempt({ try root.optional("admin") }) else { return nil }
        guard let node else { return AdminConfig(address: "127.0.0.1", port: 9090) }
        keys(node, ["address", "port"])
        let address = attempt { try node.optionalString(at: "address") ?? "127.0.0.1" }
        let port = attempt { try Self.port(node, "port", default: 9090, allowZero: true) }
        guard let address, let port else { return nil }
        return AdminConfig(address: address, port: port)
    }

    func readUpstream(_ root: YAMLNode) -> UpstreamConfig? {
        guard let node = attempt({ try root.required("upstream") }) else { return nil }
        keys(node, [
            "url", "ca", "authorization", "connect_timeout", "response_timeout", "max_idle_connections",
            "idle_timeout", "max_inspected_body",
        ])
        guard let urlNode = attempt({ try node.required("url") }), let url = attempt({ try urlNode.string() }) else {
            return nil
        }
        guard let parts = URLComponents(string: url), let scheme = parts.scheme, scheme == "http" || scheme == "https",
              let host = parts.host, !host.isEmpty, parts.query == nil, parts.fragment == nil
        else {
            errors.append(YAMLDecodingError(at: urlNode, "must be an http:// or https:// URL without query"))
            return nil
        }
        let basePath = parts.path.hasSuffix("/") ? String(parts.path.dropLast()) : parts.path
        let ca = attempt { try node.optionalString(at: "ca").map(path) } ?? nil
        if let ca, let problem = FileAccess.readProblem(ca) {
            errors.append(YAMLDecodingError(at: node["ca"]!, "cannot read \(problem)"))
        }
        let authorization = attempt { try node.optionalString(at: "authorization") } ?? nil
        let connect = attempt { try Self.millis(node, "connect_timeout", default: 5_000) }
        let response = attempt { try Self.millis(node, "response_timeout", default: 60_000) }
        let idle = attempt { try Self.millis(node, "idle_timeout", default: 30_000) }
        let maxIdle = attempt { try node.optionalInt(at: "max_idle_connections") ?? 32 }
        let maxBody = attempt { try node.optionalByteSize(at: "max_inspected_body") ?? 32 << 20 }
        guard let connect, let response, let idle, let maxIdle, let maxBody else { return nil }
        return UpstreamConfig(
            url: url, caFile: ca, authorization: authorization, connectTimeoutMs: connect, responseTimeoutMs: response,
            maxIdleConnections: maxIdle, idleTimeoutMs: idle, maxInspectedBodyBytes: maxBody, scheme: scheme,
            host: host, port: parts.port ?? (scheme == "https" ? 443 : 80), basePath: basePath)
    }

    func readFHIR(_ root: YAMLNode) -> FHIRConfig? {
        guard let node = attempt({ try root.optional("fhir") }) else { return nil }
        guard let node else { return FHIRConfig(basePath: "/fhir", allowedOperations: []) }
        keys(node, ["base_path", "allowed_operations"])
        let base = attempt { () throws(YAMLDecodingError) -> String in
            let value = try node.optionalString(at: "base_path") ?? "/fhir"
            let segments = value.split(separator: "/", omittingEmptySubsequences: false)
            guard value.hasPrefix("/"), !value.hasSuffix("/") || value == "/",
                  segments.dropFirst().allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" } })
            else { throw YAMLDecodingError(at: node["base_path"]!, "must look like /fhir (letters, digits, '-')") }
            return value == "/" ? "" : value
        }
        let operations = attempt { try node.optionalStringList(at: "allowed_operations") ?? [] }
        guard let base, let operations else { return nil }
        return FHIRConfig(basePath: base, allowedOperations: operations.map { $0.hasPrefix("$") ? String($0.dropFirst()) : $0 })
    }

    func readAuth(_ root: YAMLNode, publicBase: String, listen: ListenerConfig) -> AuthConfig? {
        guard let node = attempt({ try root.optional("auth") }) else { return nil }
        let empty = YAMLNode.mapping([])
        let auth = node ?? empty
        keys(auth, ["mode", "issuer", "signing_keys", "token_lifetime", "leeway", "clients", "external_issuers"])
        let mode = attempt { () throws(YAMLDecodingError) -> String in
            let value = try auth.optionalString(at: "mode") ?? "smart"
            guard value == "smart" || value == "none" else {
                throw YAMLDecodingError(at: auth["mode"]!, "must be 'smart' or 'none'")
            }
            if value == "none", !Self.isLoopback(listen.address) {
                throw YAMLDecodingError(at: auth["mode"]!, "'none' is only allowed when listen.address is loopback")
            }
            return value
        }
        let issuer = attempt { try auth.optionalString(at: "issuer") ?? publicBase }
        let keysDir = attempt { path(try auth.optionalString(at: "signing_keys") ?? "keys") }
        let lifetime = attempt { () throws(YAMLDecodingError) -> Int in
            let seconds = Int(try auth.optionalDuration(at: "token_lifetime") ?? 300)
            guard (1...300).contains(seconds) else {
                throw YAMLDecodingError(at: auth["token_lifetime"]!, "must be between 1s and 300s (SMART §1.7)")
            }
            return seconds
        }
        let leeway = attempt { Int(try auth.optionalDuration(at: "leeway") ?? 60) }
        let clients = attempt { path(try auth.optionalString(at: "clients") ?? "clients.yaml") }
        let external = readExternalIssuers(auth)
        guard let mode, let issuer, let keysDir, let lifetime, let leeway, let clients, let external else { return nil }
        return AuthConfig(
            mode: mode, issuer: issuer, signingKeyDirectory: keysDir, tokenLifetimeSeconds: lifetime,
            leewaySeconds: leeway, clientsFile: clients, externalIssuers: external)
    }

    func readExternalIssuers(_ auth: YAMLNode) -> [ExternalIssuerConfig]? {
        guard let list = attempt({ try auth.optional("external_issuers") }) else { return nil }
        guard let list else { return [] }
        guard let items = attempt({ try list.sequence() }) else { return nil }
        var out: [ExternalIssuerConfig] = []
        for item in items {
            keys(item, [
                "issuer", "jwks_url", "introspection_url", "algorithms", "audience", "client_id", "client_secret", "ca",
                "clients",
            ])
            guard let issuer = attempt({ try item.string(at: "issuer") }) else { continue }
            let jwks = attempt { try item.optionalString(at: "jwks_url") } ?? nil
            let introspection = attempt { try item.optionalString(at: "introspection_url") } ?? nil
            let algorithms = attempt { try item.optionalStringList(at: "algorithms") ?? [] } ?? []
            if (jwks == nil) == (introspection == nil) {
                errors.append(YAMLDecodingError(at: item, "needs exactly one of jwks_url or introspection_url"))
            }
            for url in [jwks, introspection].compactMap({ $0 }) where !url.hasPrefix("https://") {
                errors.append(YAMLDecodingError(at: item, "\(url): issuer endpoints must be https"))
            }
            if jwks != nil, algorithms.isEmpty {
                errors.append(YAMLDecodingError(at: item, "jwks_url needs an 'algorithms' allow-list"))
            }
            for name in algorithms where JWSAlgorithm(rawValue: name) == nil {
                errors.append(YAMLDecodingError(at: item, "unsupported algorithm '\(name)' (RS*, PS*, ES*)"))
            }
            if introspection != nil, item["clients"] != nil {
                // Opaque tokens are never bound to a registration; a silently ignored mapping would mislead.
                errors.append(YAMLDecodingError(at: item, "'clients' applies to jwks_url issuers only"))
            }
            let ca = attempt { try item.optionalString(at: "ca").map(path) } ?? nil
            if let ca, let problem = FileAccess.readProblem(ca) {
                errors.append(YAMLDecodingError(at: item, "cannot read \(problem)"))
            }
            out.append(ExternalIssuerConfig(
                issuer: issuer, jwksURL: jwks, introspectionURL: introspection, algorithms: algorithms,
                audience: attempt { try item.optionalString(at: "audience") } ?? nil,
                introspectionClientID: attempt { try item.optionalString(at: "client_id") } ?? nil,
                introspectionClientSecret: attempt { try item.optionalString(at: "client_secret") } ?? nil,
                caFile: ca, clients: readIssuerClients(item)))
        }
        return out
    }

    /// `external_issuers[].clients`: `{<issuer's client id>: <registered client id>}`, strings only.
    func readIssuerClients(_ item: YAMLNode) -> [String: String] {
        guard let node = attempt({ try item.optional("clients") }) ?? nil else { return [:] }
        guard let entries = attempt({ try node.mapping() }) else { return [:] }
        var clients: [String: String] = [:]
        for entry in entries {
            guard let from = attempt({ try entry.key.string() }), let to = attempt({ try entry.value.string() }) else {
                continue
            }
            clients[from] = to
        }
        return clients
    }

    func readAudit(_ root: YAMLNode) -> AuditConfig? {
        guard let node = attempt({ try root.optional("audit") }) else { return nil }
        let audit = node ?? YAMLNode.mapping([])
        keys(audit, ["enabled", "directory", "rotate_size", "rotate_age", "identifier_hash_key", "repository_url"]
            + ConfigLoader.shippingKeys)
        let enabled = attempt { try audit.optionalBool(at: "enabled") ?? true }
        let directory = attempt { path(try audit.optionalString(at: "directory") ?? "audit") }
        let rotate = attempt { try audit.optionalByteSize(at: "rotate_size") ?? 64 << 20 }
        let rotateAge = attempt { () throws(YAMLDecodingError) -> Double in
            let seconds = try audit.optionalDuration(at: "rotate_age") ?? 86_400
            guard seconds >= 60 else { throw YAMLDecodingError(at: audit["rotate_age"]!, "must be at least 1m") }
            return seconds
        }
        let key = attempt { try audit.optionalString(at: "identifier_hash_key").map(path) } ?? nil
        if let key, let problem = FileAccess.readProblem(key) {
            errors.append(YAMLDecodingError(at: audit["identifier_hash_key"]!, "cannot read \(problem)"))
        }
        let repository = attempt { try audit.optionalString(at: "repository_url") } ?? nil
        let shipping = collect(ConfigLoader.readAuditShipping(audit, resolve: path))
        guard let enabled, let directory, let rotate, let rotateAge, let shipping else { return nil }
        if !enabled, repository != nil {
            errors.append(YAMLDecodingError(at: audit, "repository_url needs enabled: true (nothing would be shipped)"))
            return nil
        }
        return AuditConfig(
            enabled: enabled, directory: directory, rotateBytes: rotate, rotateAgeSeconds: rotateAge,
            identifierHashKeyFile: key,
            repositoryURL: repository, shipping: shipping)
    }

    func readLimits(_ root: YAMLNode) -> LimitsConfig? {
        guard let node = attempt({ try root.optional("limits") }) else { return nil }
        let limits = node ?? YAMLNode.mapping([])
        keys(limits, [
            "request_line", "headers", "header_count", "body", "token", "header_timeout", "idle_timeout",
            "max_connections", "token_requests_per_minute", "http2",
        ])
        let line = attempt { try limits.optionalByteSize(at: "request_line") ?? 8 << 10 }
        let headers = attempt { try limits.optionalByteSize(at: "headers") ?? 32 << 10 }
        let count = attempt { try limits.optionalInt(at: "header_count") ?? 100 }
        let body = attempt { try limits.optionalByteSize(at: "body") ?? 8 << 20 }
        let token = attempt { try limits.optionalByteSize(at: "token") ?? 8 << 10 }
        let headerTimeout = attempt { try Self.millis(limits, "header_timeout", default: 10_000) }
        let idle = attempt { try Self.millis(limits, "idle_timeout", default: 60_000) }
        let connections = attempt { try limits.optionalInt(at: "max_connections") ?? 10_000 }
        let tokenRate = attempt { try limits.optionalInt(at: "token_requests_per_minute") ?? 600 }
        let http2 = collect(ConfigLoader.readHTTP2(
            limits, headerTimeoutMs: headerTimeout ?? 10_000, idleTimeoutMs: idle ?? 60_000))
        guard let line, let headers, let count, let body, let token, let headerTimeout, let idle, let connections,
              let tokenRate, let http2
        else { return nil }
        return LimitsConfig(
            requestLineBytes: line, headerBytes: headers, headerCount: count, bodyBytes: body, tokenBytes: token,
            headerTimeoutMs: headerTimeout, idleTimeoutMs: idle, maxConnections: connections,
            tokenRequestsPerMinute: tokenRate, http2: http2)
    }

    func readLogging(_ root: YAMLNode) -> LoggingConfig? {
        guard let node = attempt({ try root.optional("logging") }) else { return nil }
        let logging = node ?? YAMLNode.mapping([])
        keys(logging, ["level"])
        let level = attempt { () throws(YAMLDecodingError) -> LogLevel in
            let name = try logging.optionalString(at: "level") ?? "info"
            guard let level = LogLevel(name: name) else {
                throw YAMLDecodingError(at: logging["level"]!, "unknown level '\(name)' (trace ... critical)")
            }
            return level
        }
        return level.map(LoggingConfig.init)
    }

    static func port(_ node: YAMLNode, _ key: String, default value: Int, allowZero: Bool = false) throws(YAMLDecodingError) -> Int {
        guard let child = try node.optional(key) else { return value }
        let port = try child.int()
        guard (allowZero ? 0 : 1)...65535 ~= port else { throw YAMLDecodingError(at: child, "not a TCP port") }
        return port
    }

    static func millis(_ node: YAMLNode, _ key: String, default value: UInt64) throws(YAMLDecodingError) -> UInt64 {
        guard let seconds = try node.optionalDuration(at: key) else { return value }
        guard seconds > 0 else { throw YAMLDecodingError(at: node[key]!, "must be positive") }
        return UInt64(seconds * 1000)
    }

    static func isLoopback(_ address: String) -> Bool {
        address == "::1" || address == "localhost" || address.hasPrefix("127.")
    }
}
