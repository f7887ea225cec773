// Reads the shipping keys of `audit:` (issue #7 §3): how to reach the Audit Record Repository (URL, private
// CA, credential) and how to retry (batch size, backoff). A credential is checked here for header injection
// and for clear-text transport, so a mistake stops `pdmp-gateway check` rather than the first POST.

import Foundation
import GatewayYAML

extension ConfigLoader {
    /// The keys of `audit:` read here besides `repository_url`.
    static let shippingKeys = [
        "repository_ca", "repository_authorization", "repository_authorization_env", "repository_token_file",
        "ship_batch_size", "ship_initial_backoff", "ship_max_backoff",
    ]

    /// Reads the shipping settings from the `audit` mapping; `resolve` makes a path absolute.
    /// - Returns: the settings (nil when they have errors) and every problem found.
    static func readAuditShipping(
        _ audit: YAMLNode, resolve: (String) -> String,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> (AuditShippingConfig?, [YAMLDecodingError]) {
        let problems = ConfigProblems()
        let endpoint = problems.attempt { try repositoryEndpoint(audit) } ?? nil
        if audit["repository_url"] == nil, let stray = shippingKeys.first(where: { audit[$0] != nil }) {
            problems.errors.append(YAMLDecodingError(at: audit[stray]!, "has no effect without audit.repository_url"))
        }
        var config = AuditShippingConfig()
        config.caFile = problems.attempt { try repositoryCA(audit, endpoint: endpoint, resolve: resolve) } ?? nil
        config.authorization =
            problems.attempt {
                try repositoryCredential(audit, endpoint: endpoint, resolve: resolve, environment: environment)
            } ?? nil
        if let batch = problems.attempt({ try audit.optionalInt(at: "ship_batch_size") }) ?? nil {
            if (1...1000).contains(batch) {
                config.batchSize = batch
            } else {
                problems.errors.append(YAMLDecodingError(at: audit["ship_batch_size"]!, "must be between 1 and 1000"))
            }
        }
        if let backoff = problems.attempt({ try backoffs(audit) }) {
            (config.initialBackoffSeconds, config.maxBackoffSeconds) = backoff
        }
        return problems.errors.isEmpty ? (config, []) : (nil, problems.errors)
    }

    /// `repository_url`, parsed as the transport will use it; nil when absent.
    private static func repositoryEndpoint(
        _ audit: YAMLNode
    ) throws(YAMLDecodingError) -> HTTPAuditTransport.Endpoint? {
        guard let node = try audit.optional("repository_url") else { return nil }
        guard let endpoint = HTTPAuditTransport.Endpoint(try node.string()) else {
            throw YAMLDecodingError(at: node, "must be an http:// or https:// URL without query or credentials")
        }
        return endpoint
    }

    private static func repositoryCA(
        _ audit: YAMLNode, endpoint: HTTPAuditTransport.Endpoint?, resolve: (String) -> String
    ) throws(YAMLDecodingError) -> String? {
        guard let node = try audit.optional("repository_ca"), let endpoint else { return nil }
        let file = resolve(try node.string())
        guard endpoint.scheme == "https" else { throw YAMLDecodingError(at: node, "needs an https repository_url") }
        guard FileManager.default.isReadableFile(atPath: file) else {
            throw YAMLDecodingError(at: node, "cannot read \(file)")
        }
        return file
    }

    /// The `Authorization` value from one of `repository_authorization`, `repository_authorization_env`
    /// (an environment variable holding the value) or `repository_token_file` (a bearer token).
    private static func repositoryCredential(
        _ audit: YAMLNode, endpoint: HTTPAuditTransport.Endpoint?, resolve: (String) -> String,
        environment: [String: String]
    ) throws(YAMLDecodingError) -> String? {
        var sources: [(String, YAMLNode)] = []
        for key in ["repository_authorization", "repository_authorization_env", "repository_token_file"] {
            if let node = try audit.optional(key) { sources.append((key, node)) }
        }
        guard let (key, node) = sources.first, let endpoint else { return nil }
        if sources.count > 1 {
            throw YAMLDecodingError(
                at: sources[1].1, "use only one of " + sources.map(\.0).joined(separator: ", "))
        }
        // A credential must not cross the network in clear text; plain http is for a repository on loopback.
        if endpoint.scheme != "https", !isLoopbackHost(endpoint.host) {
            throw YAMLDecodingError(at: node, "a credential needs an https repository_url (or a loopback host)")
        }
        let value: String
        switch key {
        case "repository_authorization_env":
            let name = try node.string()
            guard let set = environment[name], !set.isEmpty else {
                throw YAMLDecodingError(at: node, "environment variable \(name) is not set or empty")
            }
            value = set
        case "repository_token_file":
            let path = resolve(try node.string())
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw YAMLDecodingError(at: node, "cannot read \(path)")
            }
            let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard isBearerToken(token) else {
                throw YAMLDecodingError(at: node, "\(path) must hold one bearer token (RFC 6750 §2.1 characters)")
            }
            value = "Bearer " + token
        default:
            value = try node.string()
        }
        // RFC 9110 §5.5: no CR, LF, NUL or other controls in a field value (header injection). The message
        // never quotes the value: it is a credential.
        let controls = value.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }
        guard !value.isEmpty, !controls else {
            throw YAMLDecodingError(at: node, "must be a non-empty header value without control characters")
        }
        return value
    }

    private static func backoffs(_ audit: YAMLNode) throws(YAMLDecodingError) -> (Double, Double) {
        let initial = try audit.optionalDuration(at: "ship_initial_backoff") ?? 0.5
        let maximum = try audit.optionalDuration(at: "ship_max_backoff") ?? max(30, initial)
        if let node = audit["ship_initial_backoff"], !(0.01...3600).contains(initial) {
            throw YAMLDecodingError(at: node, "must be between 10ms and 1h")
        }
        if let node = audit["ship_max_backoff"], !(initial...3600).contains(maximum) {
            throw YAMLDecodingError(at: node, "must be between ship_initial_backoff (\(initial)s) and 1h")
        }
        return (initial, maximum)
    }

    /// RFC 6750 §2.1 b64token: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
    static func isBearerToken(_ token: String) -> Bool {
        let body = token.reversed().drop(while: { $0 == "=" })
        return !body.isEmpty && body.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-._~+/".contains($0)) }
    }

    private static func isLoopbackHost(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }
}
