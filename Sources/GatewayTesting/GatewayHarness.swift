// Runs a whole gateway in-process on loopback for integration tests: a generated test CA and server
// certificate, a signing key, a client registry with generated requester keys, the repository's policies
// (or a test's own), an audit directory, and the recording upstream (or any upstream URL). Requests go
// through real clients (curl, openssl s_client) over real TLS handshakes.

public import Foundation
public import Gateway
public import GatewayCore
public import GatewayCrypto
public import JOSE
import SMART

/// A requester registered with the harness's gateway, with its private key.
public struct TestRequester: Sendable {
    public let id: String
    public let key: PrivateKey
    public let kid: String
    public let algorithm: JWSAlgorithm
}

/// A response as a real client saw it.
public struct ClientResponse: Sendable {
    public let status: Int
    public let headers: [(String, String)]
    public let body: [UInt8]

    public var text: String { String(decoding: body, as: UTF8.self) }
    public var json: JSONValue? { try? JSONValue.parse(body) }

    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

public final class GatewayHarness: @unchecked Sendable {
    // Safe: immutable after init; the runtime and recorder are themselves thread-safe.
    public static let repositoryRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    public let pki: TestPKI
    public let directory: String
    public let runtime: GatewayRuntime
    public let recorder: UpstreamRecorder?
    public let requesters: [String: TestRequester]

    public var baseURL: String { "https://127.0.0.1:\(runtime.port)" }
    public var fhirBase: String { baseURL + "/fhir" }
    public var tokenURL: String { baseURL + "/auth/token" }
    public var adminURL: String { "http://127.0.0.1:\(runtime.adminPort ?? 0)" }
    public var auditDirectory: String { directory + "/audit" }

    /// A registered requester for tests: id, scopes, NPIs, roles, kind, network ranges, status.
    public struct ClientSpec: Sendable {
        public var id: String
        public var scopes: [String]
        public var npis: [String]
        public var roles: [String]
        public var kind: String
        public var networks: [String]
        public var status: String
        public var algorithm: JWSAlgorithm
        /// A key made by the test (e.g. for a third-party client); nil generates one.
        public var key: PrivateKey?
        /// The registered `kid`; nil uses `<id>-key-1`.
        public var kid: String?

        public init(
            id: String, scopes: [String], npis: [String] = [], roles: [String] = ["prescriber"],
            kind: String = "provider", networks: [String] = [], status: String = "active",
            algorithm: JWSAlgorithm = .es384, key: PrivateKey? = nil, kid: String? = nil
        ) {
            self.id = id
            self.scopes = scopes
            self.npis = npis
            self.roles = roles
            self.kind = kind
            self.networks = networks
            self.status = status
            self.algorithm = algorithm
            self.key = key
            self.kid = kid
        }
    }

    /// Starts a gateway.
    /// - Parameters:
    ///   - upstreamURL: the upstream FHIR base; nil starts a recording upstream.
    ///   - clients: requesters to register (keys generated here).
    ///   - policyDirectory: policies to load; nil uses the repository's `policies/`.
    ///   - extraConfig: more top-level YAML appended to gateway.yaml (e.g. `limits:` overrides).
    ///   - authConfig: more keys of the `auth:` section (e.g. `external_issuers:`), written unindented.
    ///   - auditConfig: the whole `audit:` block; nil = `directory: audit` (see ``writeConfig``).
    public init(
        upstreamURL: String? = nil, clients: [ClientSpec] = [], policyDirectory: String? = nil,
        extraConfig: String = "", authMode: String = "smart", authConfig: String = "", auditConfig: String? = nil
    ) throws {
        pki = try TestPKI.make(caName: "pdmp-gateway test CA")
        directory = pki.directory + "/gateway"
        try FileManager.default.createDirectory(atPath: directory + "/keys", withIntermediateDirectories: true)
        let recorder = upstreamURL == nil ? try UpstreamRecorder(repositoryRoot: Self.repositoryRoot) : nil
        self.recorder = recorder
        _ = try KeyStore.generate(algorithm: .es256, directory: directory + "/keys", now: Date().timeIntervalSince1970)

        var requesters: [String: TestRequester] = [:]
        var entries: [ClientEntry] = []
        for spec in clients {
            let key = try spec.key
                ?? (spec.algorithm == .rs384 ? PrivateKey.generateRSA(bits: 2048) : PrivateKey.generateEC(.p384))
            let kid = spec.kid ?? spec.id + "-key-1"
            let jwk = try SigningKey(keyID: kid, algorithm: spec.algorithm, privateKey: key).publicJWK()
            requesters[spec.id] = TestRequester(id: spec.id, key: key, kid: kid, algorithm: spec.algorithm)
            let client = RegisteredClient(
                id: spec.id, name: "Test \(spec.id)", kind: RegisteredClient.Kind(rawValue: spec.kind) ?? .provider,
                npis: spec.npis, roles: spec.roles, networks: spec.networks, allowedScopes: spec.scopes,
                status: RegisteredClient.Status(rawValue: spec.status) ?? .active)
            entries.append(ClientEntry(client: client, jwks: ["keys": [jwk]], jwksURL: nil))
        }
        self.requesters = requesters
        try ClientsFile.save(entries, path: directory + "/clients.yaml")

        let policies = policyDirectory ?? Self.repositoryRoot + "/policies"
        let upstream = upstreamURL ?? recorder!.baseURL
        try Self.writeConfig(
            to: directory + "/gateway.yaml", port: Self.freePort(), adminPort: Self.freePort(), pki: pki,
            upstreamURL: upstream, policyDirectory: policies, authMode: authMode, authConfig: authConfig,
            auditConfig: auditConfig ?? "audit:\n  directory: audit\n", extraConfig: extraConfig)
        runtime = try GatewayRuntime(
            configPath: directory + "/gateway.yaml", logger: Logger(label: "test", level: .error))
    }

    deinit { stop() }

    /// Writes a gateway configuration like the harness's own (for a second in-process gateway or for the
    /// real `pdmp-gateway serve --config` binary). Relative paths in it resolve against its directory, which
    /// must hold `keys/` and `clients.yaml` (the harness directory does).
    /// - Parameters:
    ///   - adminPort: the admin listener's port; 0 disables it.
    ///   - authConfig: more keys of the `auth:` section, written unindented.
    ///   - auditConfig: the whole `audit:` block, e.g. `"audit:\n  directory: audit\n"`.
    public static func writeConfig(
        to path: String, port: Int, adminPort: Int, pki: TestPKI, upstreamURL: String, policyDirectory: String,
        authMode: String = "smart", authConfig: String = "", auditConfig: String = "audit:\n  directory: audit\n",
        eventLoops: Int = 2, logLevel: String = "error", extraConfig: String = ""
    ) throws {
        let config = """
            listen:
              address: 127.0.0.1
              port: \(port)
              tls:
                certificate: \(pki.serverCertificate)
                private_key: \(pki.serverKey)
            admin:
              address: 127.0.0.1
              port: \(adminPort)
            upstream:
              url: \(upstreamURL)
              connect_timeout: 2s
              response_timeout: 5s
            auth:
              mode: \(authMode)
              signing_keys: keys
              clients: clients.yaml
            \(authConfig.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
            policies: \(policyDirectory)
            event_loops: \(eventLoops)
            logging:
              level: \(logLevel)

            """ + auditConfig + extraConfig
        try config.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// A port that was free a moment ago (the kernel's choice for port 0).
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                bind(fd, generic, length) == 0 && getsockname(fd, generic, &length) == 0
            }
        }
        guard bound else { throw GatewayError(status: 500, issueType: .exception, "no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private let stopped = NSLock()
    private var isStopped = false

    /// Drains the gateway and stops the recorder.
    public func stop() {
        stopped.lock()
        defer { stopped.unlock() }
        guard !isStopped else { return }
        isStopped = true
        runtime.drain(timeoutSeconds: 2)
        recorder?.stop()
        pki.remove()
    }

    // MARK: - Tokens

    /// An access token signed by the gateway's own key (as the token endpoint would issue it).
    public func token(
        client: String, scopes: [String], patient: String? = nil, now: Double = Date().timeIntervalSince1970
    ) throws -> String {
        var extra: [(String, JSONValue)] = []
        if let patient { extra.append(("patient", .string(patient))) }
        return try runtime.services.issueTestToken(clientID: client, scopes: scopes, now: now, extraClaims: extra)
    }

    /// A client assertion for a registered requester (SMART backend services §1.5).
    public func assertion(for client: String, audience: String? = nil, now: Double = Date().timeIntervalSince1970) throws -> String {
        let requester = requesters[client]!
        return try ClientAssertion.make(
            clientID: client, tokenURL: audience ?? tokenURL, key: requester.key, kid: requester.kid,
            algorithm: requester.algorithm, now: now)
    }

    // MARK: - Requests through real clients

    /// Sends a request with curl over TLS (HTTP/1.1) and returns what curl received.
    public func request(
        _ method: String, _ path: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
        bearer: String? = nil, extraCurlArguments: [String] = []
    ) throws -> ClientResponse {
        let headerFile = directory + "/curl-headers-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: headerFile) }
        var arguments = [
            "-s", "--http1.1", "--path-as-is", "--cacert", pki.caCertificate, "-X", method, "-D", headerFile,
            "-o", "-", "--max-time", "20",
        ]
        if method == "HEAD" { arguments += ["-I"] }
        if let bearer { arguments += ["-H", "Authorization: Bearer \(bearer)"] }
        for (name, value) in headers { arguments += ["-H", "\(name): \(value)"] }
        if body != nil { arguments += ["--data-binary", "@-"] }
        arguments += extraCurlArguments
        arguments.append(path.hasPrefix("http") ? path : baseURL + path)
        let output = try Subprocess.run("/usr/bin/curl", arguments, stdin: body ?? [])
        let headText = (try? String(contentsOfFile: headerFile, encoding: .isoLatin1)) ?? ""
        return Self.parseHead(headText, body: method == "HEAD" ? [] : output.stdout)
    }

    static func parseHead(_ text: String, body: [UInt8]) -> ClientResponse {
        // curl writes one head per response (e.g. after 100 Continue); the last one is the answer.
        let blocks = text.components(separatedBy: "\r\n\r\n").filter { !$0.isEmpty }
        guard let last = blocks.last else { return ClientResponse(status: 0, headers: [], body: body) }
        let lines = last.components(separatedBy: "\r\n")
        let status = lines.first.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
        let headers = lines.dropFirst().compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        return ClientResponse(status: status, headers: headers, body: body)
    }

    /// Sends raw bytes over a TLS connection (openssl s_client) and returns everything the gateway sent back
    /// before closing (for framing attacks that curl would not produce).
    public func raw(_ bytes: [UInt8], timeoutSeconds: Int = 15) throws -> String {
        let output = try Subprocess.run(
            "/usr/bin/timeout",
            ["\(timeoutSeconds)", "/usr/bin/openssl", "s_client", "-quiet", "-ign_eof", "-connect", "127.0.0.1:\(runtime.port)",
             "-CAfile", pki.caCertificate, "-servername", "localhost"],
            stdin: bytes)
        return String(decoding: output.stdout, as: UTF8.self)
    }

    /// The status codes of every response in a raw reply, in order.
    public static func statuses(in raw: String) -> [Int] {
        raw.components(separatedBy: "\r\n").compactMap { line in
            guard line.hasPrefix("HTTP/1.") else { return nil }
            return Int(line.split(separator: " ").dropFirst().first ?? "")
        }
    }

    /// Requests the upstream recorder received.
    public func upstreamRequests() throws -> [UpstreamRecorder.Request] {
        try recorder?.requests() ?? []
    }
}
