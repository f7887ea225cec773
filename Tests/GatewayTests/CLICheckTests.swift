// `pdmp-gateway check` as an operator meets it (the real binary): it loads what `serve` loads, reports every
// problem group in one run, says why a file cannot be read, and warns about private keys others can read.

import Foundation
import GatewayCore
import GatewayTesting
import Testing

@Suite("pdmp-gateway check loads what serve loads", .serialized)
struct CLICheckTests {
    static var binary: String { GatewayHarness.repositoryRoot + "/.build/debug/pdmp-gateway" }

    /// A deployment directory: sample policies, a signing key, a TLS certificate, an empty registry.
    final class Setup {
        let pki: TestPKI
        let directory: String

        init() throws {
            pki = try TestPKI.make()
            directory = pki.directory + "/etc"
            try FileManager.default.createDirectory(atPath: directory + "/policies", withIntermediateDirectories: true)
            for name in try FileManager.default.contentsOfDirectory(atPath: GatewayHarness.repositoryRoot + "/policies")
            where name.hasSuffix(".yaml") {
                try FileManager.default.copyItem(
                    atPath: GatewayHarness.repositoryRoot + "/policies/" + name,
                    toPath: directory + "/policies/" + name)
            }
            let keys = try Subprocess.run(CLICheckTests.binary, ["keys", "generate", "--out", directory + "/keys"])
            #expect(keys.status == 0)
        }

        deinit { pki.remove() }

        /// Writes gateway.yaml with `extra` appended (and `upstream` replaced when given).
        @discardableResult
        func config(upstream: String = "upstream: {url: http://127.0.0.1:9/fhir}", _ extra: String = "") throws -> String {
            let path = directory + "/gateway.yaml"
            try """
                listen:
                  address: 127.0.0.1
                  port: 18443
                  tls: {certificate: \(pki.serverCertificate), private_key: \(pki.serverKey)}
                admin: {port: 0}
                \(upstream)
                auth: {signing_keys: keys, clients: clients.yaml}
                policies: policies
                event_loops: 1
                \(extra)
                """.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }

        func run(_ arguments: [String]) throws -> ProcessOutput {
            try Subprocess.run(CLICheckTests.binary, arguments)
        }
    }

    @Test("a valid deployment passes check and says what it checked")
    func valid() throws {
        let setup = try Setup()
        let result = try setup.run(["check", "--config", try setup.config("audit: {directory: audit}")])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdoutText.contains("are valid"))
        #expect(!result.stderr.contains("warning"))
    }

    @Test("a missing identifier_hash_key file is 'no such file', in check and in serve")
    func missingHashKey() throws {
        let setup = try Setup()
        let config = try setup.config("audit: {directory: audit, identifier_hash_key: missing.key}")
        for command in ["check", "serve"] {
            let result = try setup.run([command, "--config", config])
            #expect(result.status == 1, "\(command)")
            #expect(result.stderr.contains("missing.key: no such file"), "\(command): \(result.stderr)")
            #expect(!result.stderr.contains("32 bytes"))
        }
    }

    @Test("a missing upstream CA fails check with the file named, before serve would meet it")
    func missingUpstreamCA() throws {
        let setup = try Setup()
        let config = try setup.config(upstream: "upstream: {url: https://127.0.0.1:9/fhir, ca: no-such-ca.pem}")
        for command in ["check", "serve"] {
            let result = try setup.run([command, "--config", config])
            #expect(result.status == 1, "\(command)")
            #expect(result.stderr.contains("no-such-ca.pem: no such file"), "\(command): \(result.stderr)")
        }
    }

    @Test("an upstream CA file that is not a certificate fails check as it fails serve")
    func brokenUpstreamCA() throws {
        let setup = try Setup()
        try "not a certificate\n".write(toFile: setup.directory + "/ca.pem", atomically: true, encoding: .utf8)
        let config = try setup.config(upstream: "upstream: {url: https://127.0.0.1:9/fhir, ca: ca.pem}")
        let check = try setup.run(["check", "--config", config])
        let serve = try setup.run(["serve", "--config", config])
        #expect(check.status == 1)
        #expect(serve.status == 1)
        #expect(check.stderr.contains("ca.pem"), "\(check.stderr)")
    }

    @Test("a certificate and a key that do not belong together fail check")
    func mismatchedTLSPair() throws {
        let setup = try Setup()
        let other = try setup.pki.issue(name: "other", commonName: "other")
        let config = setup.directory + "/gateway.yaml"
        try setup.config()
        let text = try String(contentsOfFile: config, encoding: .utf8)
            .replacingOccurrences(of: "private_key: \(setup.pki.serverKey)", with: "private_key: \(other.key)")
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        let result = try setup.run(["check", "--config", config])
        #expect(result.status == 1)
        #expect(result.stderr.contains(other.key) || result.stderr.contains(setup.pki.serverCertificate),
                "\(result.stderr)")
    }

    @Test("every problem group is reported in one run: policies, clients and signing keys")
    func everyGroup() throws {
        let setup = try Setup()
        try FileManager.default.removeItem(atPath: setup.directory + "/keys")
        try "- id: [broken\n".write(toFile: setup.directory + "/clients.yaml", atomically: true, encoding: .utf8)
        try "rules: 12\n".write(toFile: setup.directory + "/policies/zz-broken.yaml", atomically: true, encoding: .utf8)
        let result = try setup.run(["check", "--config", try setup.config()])
        #expect(result.status == 1)
        #expect(result.stderr.contains("zz-broken.yaml"), "\(result.stderr)")
        #expect(result.stderr.contains("clients.yaml"), "\(result.stderr)")
        #expect(result.stderr.contains("no signing keys"), "\(result.stderr)")
        #expect(result.stderr.contains("3 problem groups"), "\(result.stderr)")
        // No internal error decoration reaches the operator.
        #expect(!result.stderr.contains("500 exception"))
        let serve = try setup.run(["serve", "--config", try setup.config()])
        #expect(serve.status == 1)
        #expect(serve.stderr.contains("pdmp-gateway: cannot start"))
        #expect(!serve.stderr.contains("500 exception"))
    }

    @Test("a signing key only root can read: check as another user says permission denied on that path")
    func unreadableKey() throws {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/sbin/runuser") else { return }
        let setup = try Setup()
        let config = try setup.config("audit: {directory: audit}")
        // The other user may read the configuration but not the key directory `keys generate` made (0700).
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: setup.pki.directory)
        for file in [setup.pki.serverKey] {
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file)
        }
        try FileManager.default.createDirectory(atPath: setup.directory + "/audit", withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: setup.directory + "/audit")
        let result = try Subprocess.run(
            "/usr/sbin/runuser", ["-u", "nobody", "--", CLICheckTests.binary, "check", "--config", config])
        #expect(result.status == 1)
        #expect(result.stderr.contains(setup.directory + "/keys: permission denied"), "\(result.stderr)")
        #expect(!result.stderr.contains("no signing keys"))
        // The key file itself unreadable (directory listable): the file is named.
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: setup.directory + "/keys")
        let again = try Subprocess.run(
            "/usr/sbin/runuser", ["-u", "nobody", "--", CLICheckTests.binary, "check", "--config", config])
        #expect(again.status == 1)
        #expect(again.stderr.contains(".pem: permission denied"), "\(again.stderr)")
    }

    @Test("private keys readable by other users are a warning, not a refusal; the gateway's own group may read")
    func exposedPrivateKeys() throws {
        let setup = try Setup()
        let keys = try FileManager.default.contentsOfDirectory(atPath: setup.directory + "/keys")
        let signing = setup.directory + "/keys/" + keys[0]
        let config = try setup.config("audit: {directory: audit}")
        // The documented host layout: mode 0640, group = the gateway's group (here: this process's).
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: setup.pki.serverKey)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: signing)
        let result = try setup.run(["check", "--config", config])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("warning: \(signing): private key is accessible by other users (mode 644)"),
                "\(result.stderr)")
        #expect(!result.stderr.contains(setup.pki.serverKey))
        // Group-readable by a group the gateway is not in.
        guard getuid() == 0 else { return }
        #expect(chown(setup.pki.serverKey, 0, 65534) == 0)
        let again = try setup.run(["check", "--config", config])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stderr.contains("warning: \(setup.pki.serverKey): private key is accessible by other users (mode 640)"),
                "\(again.stderr)")
    }

    @Test("check creates nothing: no audit key, no audit directory")
    func checkWritesNothing() throws {
        let setup = try Setup()
        let result = try setup.run(["check", "--config", try setup.config("audit: {directory: audit}")])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: setup.directory + "/audit"))
    }

    @Test("a missing configuration says no such file, without internal prefixes")
    func missingConfig() throws {
        let result = try Subprocess.run(Self.binary, ["check", "--config", "/nonexistent/gateway.yaml"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("/nonexistent/gateway.yaml"))
        #expect(result.stderr.contains("no such file"), "\(result.stderr)")
    }
}
