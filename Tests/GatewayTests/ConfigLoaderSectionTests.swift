// `limits.http2` (issue #3 item 2) and the audit shipping keys (issue #7 §3) of gateway.yaml: defaults,
// configured values, and a bad value reported with file, line and key path.

import Foundation
import GatewayCore
import GatewayHTTP
import GatewayYAML
import Testing

@testable import Gateway

/// Decodes gateway.yaml text as if it were `<directory>/gateway.yaml`.
struct ConfigText {
    let directory: String

    var file: String { directory + "/gateway.yaml" }

    func decode(_ text: String) throws -> GatewayConfig {
        try ConfigLoader.decode(YAMLParser.parse(text, file: file), sourcePath: file)
    }

    func problems(_ text: String) -> [String] {
        do {
            _ = try decode(text)
            return []
        } catch let error as ConfigError {
            return error.errors.map(\.description)
        } catch {
            return ["\(error)"]
        }
    }

    static let minimal = """
        listen: {address: 127.0.0.1, port: 8443, plaintext_for_testing: true}
        upstream: {url: http://10.0.0.12:8080/fhir}

        """
}

@Suite("gateway.yaml: limits.http2")
struct ConfigLoaderHTTP2Tests {
    let text = ConfigText(directory: "/etc/gw")

    @Test("without limits.http2 the protocol limits are HTTP2Limits' defaults and the timeouts the shared ones")
    func defaults() throws {
        let plain = try text.decode(ConfigText.minimal)
        #expect(plain.limits.http2.limits == HTTP2Limits())
        #expect(plain.limits.http2.headerTimeoutMs == 10_000)
        #expect(plain.limits.http2.idleTimeoutMs == 60_000)
        let shared = try text.decode(ConfigText.minimal + "limits: {header_timeout: 4s, idle_timeout: 90s}\n")
        #expect(shared.limits.http2.headerTimeoutMs == 4_000)
        #expect(shared.limits.http2.idleTimeoutMs == 90_000)
    }

    @Test("every key of limits.http2 is read into the limits the HTTP/2 connection gets")
    func configured() throws {
        let config = try text.decode(ConfigText.minimal + """
            limits:
              header_timeout: 4s
              http2:
                max_concurrent_streams: 7
                max_header_list_size: 16KiB
                max_continuation_frames: 2
                max_resets_per_second: 20
                max_settings_per_second: 3
                max_pings_per_second: 4
                initial_window_size: 64KiB
                connection_window_size: 2MiB
                max_buffered_body: 4MiB
                header_timeout: 2s
                idle_timeout: 15s
            """)
        let expected = HTTP2Limits(
            maxConcurrentStreams: 7, maxHeaderListBytes: 16 << 10, maxContinuationFrames: 2, maxResetsPerSecond: 20,
            maxSettingsPerSecond: 3, maxPingsPerSecond: 4, initialStreamWindowBytes: 64 << 10,
            connectionWindowBytes: 2 << 20, maxBufferedBodyBytes: 4 << 20)
        #expect(config.limits.http2.limits == expected)
        #expect(config.limits.http2.headerTimeoutMs == 2_000)
        #expect(config.limits.http2.idleTimeoutMs == 15_000)
        #expect(config.limits.headerTimeoutMs == 4_000)  // HTTP/1.1 keeps its own
        let settings = HTTP2Settings(config.limits.http2, shared: HTTPServerLimits(maxBodyBytes: 1234))
        #expect(settings.server.headerReadTimeoutMs == 2_000)
        #expect(settings.server.idleTimeoutMs == 15_000)
        #expect(settings.server.maxBodyBytes == 1234)
        #expect(settings.protocolLimits == expected)
    }

    @Test("a value out of range, a wrong type or an unknown key names the file, line and key")
    func badValues() {
        let found = text.problems(ConfigText.minimal + """
            limits:
              http2:
                max_concurrent_streams: 0
                max_header_list_size: 10GiB
                max_resets_per_second: many
                connection_window_size: 1KiB
                header_timeout: 0s
                max_streams: 5
            """)
        #expect(found.count == 6, "\(found)")
        let expectations = [
            (":5:", "limits.http2.max_concurrent_streams: must be between 1 and 1000"),
            (":6:", "limits.http2.max_header_list_size: must be between 1024 and 1048576 bytes"),
            (":7:", "limits.http2.max_resets_per_second"),
            (":8:", "limits.http2.connection_window_size: must be between 65535"),
            (":9:", "limits.http2.header_timeout: must be positive"),
            (":10:", "unknown key 'max_streams'"),
        ]
        for (line, message) in expectations {
            #expect(found.contains { $0.hasPrefix("/etc/gw/gateway.yaml" + line) && $0.contains(message) }, "\(message) in \(found)")
        }
        #expect(!text.problems(ConfigText.minimal + "limits: {http2: 100}\n").isEmpty)
    }
}

@Suite("gateway.yaml: audit shipping", .serialized)
struct ConfigLoaderAuditShippingTests {
    /// A directory with a CA file and a token file to point the configuration at.
    static func directory() throws -> String {
        let directory = NSTemporaryDirectory() + "config-audit-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory + "/secrets", withIntermediateDirectories: true)
        let files = [("ca.pem", "-----BEGIN CERTIFICATE-----\n"), ("token", "  eyJhbGciOi.abc-_~+/==\n"),
                     ("bad-token", "two\ntokens\n")]
        for (name, content) in files {
            try content.write(toFile: directory + "/secrets/" + name, atomically: true, encoding: .utf8)
        }
        return directory
    }

    @Test("defaults: batches of 200, backoff 0.5 s doubling up to 30 s, no CA, no credential")
    func defaults() throws {
        let config = try ConfigText(directory: "/etc/gw").decode(
            ConfigText.minimal + "audit: {repository_url: https://audit.example.gov/fhir}\n")
        #expect(config.audit.shipping.batchSize == 200)
        #expect(config.audit.shipping.initialBackoffSeconds == 0.5)
        #expect(config.audit.shipping.maxBackoffSeconds == 30)
        #expect(config.audit.shipping.caFile == nil)
        #expect(config.audit.shipping.authorization == nil)
    }

    @Test("configured values; relative paths resolve against the file; a token file becomes a Bearer header")
    func configured() throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let text = ConfigText(directory: directory)
        let config = try text.decode(ConfigText.minimal + """
            audit:
              repository_url: https://audit.example.gov/fhir
              repository_ca: secrets/ca.pem
              repository_token_file: secrets/token
              ship_batch_size: 25
              ship_initial_backoff: 250ms
              ship_max_backoff: 2m
            """)
        #expect(config.audit.shipping.caFile == directory + "/secrets/ca.pem")
        #expect(config.audit.shipping.authorization == "Bearer eyJhbGciOi.abc-_~+/==")
        #expect(config.audit.shipping.batchSize == 25)
        #expect(config.audit.shipping.initialBackoffSeconds == 0.25)
        #expect(config.audit.shipping.maxBackoffSeconds == 120)
        let inline = try text.decode(ConfigText.minimal + """
            audit: {repository_url: "http://127.0.0.1:9999/fhir", repository_authorization: "Basic YXVkaXQ6cHc="}
            """)
        #expect(inline.audit.shipping.authorization == "Basic YXVkaXQ6cHc=")
        let variable = "PDMP_TEST_AUDIT_AUTH_" + UUID().uuidString.prefix(8)
        setenv(variable, "Basic ZW52OnB3", 1)
        defer { unsetenv(variable) }
        let fromEnvironment = try text.decode(ConfigText.minimal + """
            audit: {repository_url: "https://audit.example.gov/fhir", repository_authorization_env: \(variable)}
            """)
        #expect(fromEnvironment.audit.shipping.authorization == "Basic ZW52OnB3")
        // Neither the configuration's description nor an error message shows a credential.
        #expect(!"\(fromEnvironment.audit)".contains("ZW52OnB3"))
        #expect("\(fromEnvironment.audit.shipping)".contains("[redacted]"))
    }

    @Test("bad values are errors naming the key", arguments: [
        ("repository_url: https://a.example/fhir\n  ship_batch_size: 0", "audit.ship_batch_size: must be between 1"),
        ("repository_url: https://a.example/fhir\n  ship_batch_size: ten", "audit.ship_batch_size"),
        ("repository_url: https://a.example/fhir\n  ship_initial_backoff: 5s\n  ship_max_backoff: 1s",
         "audit.ship_max_backoff: must be between ship_initial_backoff"),
        ("repository_url: https://a.example/fhir\n  ship_initial_backoff: 2h", "audit.ship_initial_backoff"),
        ("repository_url: http://a.example/fhir\n  repository_ca: secrets/ca.pem",
         "audit.repository_ca: needs an https repository_url"),
        ("repository_url: https://a.example/fhir\n  repository_ca: secrets/missing.pem",
         "audit.repository_ca: cannot read"),
        ("repository_url: http://a.example/fhir\n  repository_authorization: Bearer x",
         "audit.repository_authorization: a credential needs an https repository_url"),
        ("repository_url: https://a.example/fhir\n  repository_authorization: \"Bearer x\\r\\nX-Evil: 1\"",
         "audit.repository_authorization: must be a non-empty header value without control characters"),
        ("repository_url: https://a.example/fhir\n  repository_authorization: Bearer x\n"
            + "  repository_token_file: secrets/token",
         "audit.repository_token_file: use only one of repository_authorization, repository_token_file"),
        ("repository_url: https://a.example/fhir\n  repository_token_file: secrets/bad-token",
         "audit.repository_token_file: "),
        ("repository_url: https://a.example/fhir\n  repository_token_file: secrets/none", "cannot read"),
        ("repository_url: https://a.example/fhir\n  repository_authorization_env: PDMP_TEST_UNSET_VARIABLE_0",
         "audit.repository_authorization_env: environment variable PDMP_TEST_UNSET_VARIABLE_0 is not set"),
        ("repository_url: https://a.example/fhir\n  repository_authorization_env: HOME\n"
            + "  repository_token_file: secrets/token", "use only one of repository_authorization_env"),
        ("ship_batch_size: 10", "audit.ship_batch_size: has no effect without audit.repository_url"),
        ("repository_url: ftp://a.example/fhir", "audit.repository_url: must be an http:// or https:// URL"),
    ])
    func badValue(yaml: String, message: String) throws {
        let directory = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let found = ConfigText(directory: directory).problems(ConfigText.minimal + "audit:\n  " + yaml + "\n")
        #expect(found.count == 1, "\(found)")
        #expect(found.first?.hasPrefix(directory + "/gateway.yaml:") == true)
        #expect(found.first?.contains(message) == true, "\(found)")
    }
}
