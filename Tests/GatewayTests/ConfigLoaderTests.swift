import Foundation
import GatewayCore
import GatewayYAML
import Testing
@testable import Gateway

@Suite("gateway.yaml loading")
struct ConfigLoaderTests {
    let file = ConfigText(directory: "/etc/gw")

    func decode(_ text: String) throws -> GatewayConfig { try file.decode(text) }

    func problems(_ text: String) -> [String] { file.problems(text) }

    let minimal = """
        listen:
          address: 127.0.0.1
          port: 8443
          plaintext_for_testing: true
        upstream:
          url: http://10.0.0.12:8080/fhir
        """

    @Test("defaults fill every field and relative paths resolve against the file's directory")
    func defaults() throws {
        let config = try decode(minimal)
        #expect(config.publicBaseURL == "http://127.0.0.1:8443")
        #expect(config.publicFHIRBase == "http://127.0.0.1:8443/fhir")
        #expect(config.tokenURL == "http://127.0.0.1:8443/auth/token")
        #expect(config.upstream.host == "10.0.0.12")
        #expect(config.upstream.port == 8080)
        #expect(config.upstream.basePath == "/fhir")
        #expect(config.policyDirectory == "/etc/gw/policies")
        #expect(config.auth.clientsFile == "/etc/gw/clients.yaml")
        #expect(config.auth.tokenLifetimeSeconds == 300)
        #expect(config.limits.requestLineBytes == 8 * 1024)
        #expect(config.limits.headerBytes == 32 * 1024)
        #expect(config.limits.bodyBytes == 8 * 1024 * 1024)
        #expect(config.limits.headerTimeoutMs == 10_000)
        #expect(config.limits.idleTimeoutMs == 60_000)
        #expect(config.admin.address == "127.0.0.1")
        #expect(config.sharedState == "memory")
    }

    @Test("every problem is reported with file, line and key path, not just the first")
    func allProblems() {
        let found = problems("""
            listen:
              address: 127.0.0.1
              port: 99999
              plaintext_for_testing: true
            upstream:
              url: ftp://x
              response_timout: 5s
            limits:
              body: lots
            logging:
              level: chatty
            """)
        #expect(found.count == 5)
        #expect(found.contains { $0.hasPrefix("/etc/gw/gateway.yaml:3:") && $0.contains("listen.port") })
        #expect(found.contains { $0.contains(":6:") && $0.contains("http:// or https://") })
        #expect(found.contains { $0.contains(":7:") && $0.contains("unknown key 'response_timout'") })
        #expect(found.contains { $0.contains(":9:") && $0.contains("limits.body") })
        #expect(found.contains { $0.contains(":11:") && $0.contains("unknown level 'chatty'") })
    }

    @Test("unsafe choices are refused: plaintext or auth none off loopback, http issuer endpoints, long tokens")
    func unsafeChoices() {
        #expect(!problems("""
            listen: {address: 0.0.0.0, port: 8443, plaintext_for_testing: true}
            upstream: {url: http://u/fhir}
            """).isEmpty)
        #expect(problems("""
            listen: {address: 0.0.0.0, port: 8443}
            upstream: {url: http://u/fhir}
            """).contains { $0.contains("missing 'tls'") })
        #expect(problems(minimal.replacingOccurrences(of: "127.0.0.1", with: "10.1.1.1") + "\nauth: {mode: none}").contains {
            $0.contains("plaintext_for_testing") || $0.contains("'none'")
        })
        #expect(problems(minimal + "\nauth: {token_lifetime: 10m}").contains { $0.contains("300s") })
        #expect(problems(minimal + """

            auth:
              external_issuers:
                - issuer: https://idp.partner.example
                  jwks_url: http://idp.partner.example/jwks.json
            """).count == 2)  // http JWKS URL, and no algorithm allow-list
    }

    @Test("audit.enabled defaults to true; false is accepted on loopback only and never with shipping")
    func auditSwitch() throws {
        #expect(try decode(minimal).audit.enabled)
        #expect(try decode(minimal + "\naudit: {enabled: false}").audit.enabled == false)
        #expect(problems(minimal + "\naudit: {enabled: off-ish}").contains { $0.contains("audit.enabled") })
        #expect(problems(minimal + "\naudit: {enabled: false, repository_url: 'https://arr.example/fhir'}").contains {
            $0.contains("repository_url needs enabled: true")
        })
        // Off loopback the listener needs TLS files that exist; the loader only checks they are readable.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cfg-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for name in ["cert.pem", "key.pem"] {
            #expect(FileManager.default.createFile(atPath: dir + "/" + name, contents: Data("x".utf8)))
        }
        let exposed = """
            listen: {address: 0.0.0.0, port: 8443, tls: {certificate: \(dir)/cert.pem, private_key: \(dir)/key.pem}}
            upstream: {url: http://u/fhir}
            """
        #expect(try decode(exposed).audit.enabled)
        #expect(problems(exposed + "\naudit: {enabled: false}").contains {
            $0.contains("audit.enabled") && $0.contains("loopback")
        })
    }

    @Test("external_issuers[].clients binds issuer client ids; strings only, jwks_url issuers only")
    func issuerClients() throws {
        let issuer = minimal + """

            auth:
              external_issuers:
                - issuer: https://idp.partner.example
                  jwks_url: https://idp.partner.example/jwks.json
                  algorithms: [ES256]
                  clients:
                    partner-app: pharmacy-one
            """
        #expect(try decode(issuer).auth.externalIssuers.first?.clients == ["partner-app": "pharmacy-one"])
        #expect(problems(issuer.replacingOccurrences(of: "partner-app: pharmacy-one", with: "partner-app: [a]")).count
            == 1)
        let opaque = minimal + """

            auth:
              external_issuers:
                - issuer: https://as.example
                  introspection_url: https://as.example/introspect
                  clients: {ext-1: pharmacy-one}
            """
        #expect(problems(opaque).contains { $0.contains("'clients' applies to jwks_url issuers only") })
    }

    @Test("a missing file is one clear error")
    func missingFile() {
        #expect(throws: ConfigError.self) { try ConfigLoader.load(path: "/nonexistent/gateway.yaml") }
    }

    @Test("shared_state_password_file puts the file's password into the Redis URL; misuse is an error")
    func redisPasswordFile() throws {
        let directory = NSTemporaryDirectory() + "redis-pw-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "s3cret/with:odd@chars\n".write(toFile: directory + "/password", atomically: true, encoding: .utf8)
        let config = try decode(minimal + """

            shared_state: redis://redis.internal:6379/0
            shared_state_password_file: \(directory)/password
            """)
        let parts = try #require(URLComponents(string: config.sharedState))
        #expect(parts.password == "s3cret/with:odd@chars", "the trailing newline is not part of it")
        #expect(parts.host == "redis.internal" && parts.port == 6379 && parts.path == "/0")

        let missing = problems(minimal + """

            shared_state: redis://redis.internal:6379
            shared_state_password_file: \(directory)/nope
            """)
        #expect(missing.contains { $0.contains("shared_state_password_file") && $0.contains("nope: no such file") })
        let memory = problems(minimal + """

            shared_state_password_file: \(directory)/password
            """)
        #expect(memory.contains { $0.contains("applies only to a redis:// shared_state") })
        let twice = problems(minimal + """

            shared_state: redis://:inline@redis.internal:6379
            shared_state_password_file: \(directory)/password
            """)
        #expect(twice.contains { $0.contains("already has a password") })
    }

    @Test("audit.rotate_age: default 24h, configurable, at least 1m")
    func rotateAge() throws {
        #expect(try decode(minimal).audit.rotateAgeSeconds == 86_400)
        #expect(try decode(minimal + "\naudit: {rotate_age: 6h}").audit.rotateAgeSeconds == 21_600)
        #expect(problems(minimal + "\naudit: {rotate_age: 10s}").contains { $0.contains("rotate_age") && $0.contains("at least 1m") })
    }
}
