// Several gateway instances sharing Redis (issue #8 item 5): a real redis-server on a free loopback port and
// two in-process gateways with `shared_state: redis://127.0.0.1:P`, the same public origin and the same
// requester registry, so that an assertion or a quota is equally valid at both and any refusal at the
// second instance can only come from the shared state.

import Foundation
import Gateway
import GatewayCore
import GatewayTesting
import Testing

/// A throwaway redis-server on a free loopback port; DEBUG is allowed from loopback (for stalls).
final class RedisServer: @unchecked Sendable {
    // Safe: `process` is only touched by the test that owns this server, one call at a time.
    let port: Int
    let directory: String
    /// Append-only file fsync'ed before every reply, so that a SIGKILL loses nothing acknowledged.
    let persistent: Bool
    private var process: ChildProcess?

    init(persistent: Bool = false) throws {
        self.persistent = persistent
        port = try GatewayHarness.freePort()
        directory = NSTemporaryDirectory() + "redis-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try start()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    var url: String { "redis://127.0.0.1:\(port)" }

    /// Starts the server and waits until it answers PING.
    func start() throws {
        process = try ChildProcess(
            executable: Subprocess.which("redis-server") ?? "/usr/bin/redis-server",
            arguments: [
                "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--dir", directory,
                "--logfile", directory + "/redis.log", "--enable-debug-command", "local",
            ] + (persistent ? ["--appendonly", "yes", "--appendfsync", "always"] : ["--appendonly", "no"]),
            stdin: .null, stdout: .null, stderr: .null)
        for _ in 0..<100 {
            if (try? cli("PING")) == "PONG" { return }
            usleep(50_000)
        }
        throw GatewayError(status: 500, issueType: .exception, "redis-server did not answer PING on \(port)")
    }

    /// Stops the server with `signal` (SIGTERM: a clean shutdown; SIGKILL: a crash) and waits for it to exit.
    /// Started through ChildProcess, the server sees SIGTERM even though the test thread blocks it.
    func stop(signal: Int32 = SIGTERM) {
        guard let process else { return }
        process.signal(signal)
        process.wait()
        self.process = nil
    }

    /// Runs one redis-cli command and returns its trimmed output.
    func cli(_ arguments: String...) throws -> String {
        let output = try Subprocess.run(
            Subprocess.which("redis-cli") ?? "/usr/bin/redis-cli", ["-h", "127.0.0.1", "-p", String(port)] + arguments)
        return output.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Two gateways sharing one Redis, one public origin and one requester registry.
final class GatewayPair: @unchecked Sendable {
    // Safe: immutable after init.
    static let origin = "https://gateway.test"
    static let client = "app-1"
    /// A client used only by the quota test, so that no other test spends its quota.
    static let quotaClient = "app-quota"
    static let quota = 6
    let redis: RedisServer
    let a: GatewayHarness
    let b: GatewayHarness
    let policies: String

    init() throws {
        redis = try RedisServer()
        policies = NSTemporaryDirectory() + "policies-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: policies, withIntermediateDirectories: true)
        try Self.policy.write(toFile: policies + "/shared.yaml", atomically: true, encoding: .utf8)
        let clients: [GatewayHarness.ClientSpec] = [
            .init(id: Self.client, scopes: ["system/MedicationDispense.rs", "system/MedicationRequest.rs"]),
            .init(id: Self.quotaClient, scopes: ["system/MedicationDispense.rs", "system/MedicationRequest.rs"]),
        ]
        let extra = """
            public_base_url: \(Self.origin)
            shared_state: \(redis.url)

            """
        a = try GatewayHarness(clients: clients, policyDirectory: policies, extraConfig: extra)
        b = try GatewayHarness(clients: clients, policyDirectory: policies, extraConfig: extra)
        // The same requester keys at both instances, as a deployment shares clients.yaml.
        try FileManager.default.removeItem(atPath: b.directory + "/clients.yaml")
        try FileManager.default.copyItem(atPath: a.directory + "/clients.yaml", toPath: b.directory + "/clients.yaml")
        let problems = b.runtime.reload()
        guard problems.isEmpty else {
            throw GatewayError(status: 500, issueType: .exception, "reload: \(problems)")
        }
    }

    deinit {
        a.stop()
        b.stop()
        try? FileManager.default.removeItem(atPath: policies)
    }

    /// A search under the shared quota and one without any quota.
    static let policy = """
        description: Test policy for the multi-instance tests.
        rules:
          - name: dispenses-with-quota
            effect: permit
            when:
              request.kind: search-type
              request.type: MedicationDispense
              request.patients: exactly-one
            obligations:
              - check_response_compartment
              - narrow_search_to_patient
              - rate_limit: {name: shared-quota, bucket: per-client, limit: \(quota), per: day}
          - name: prescriptions-without-quota
            effect: permit
            when:
              request.kind: search-type
              request.type: MedicationRequest
              request.patients: exactly-one
            obligations:
              - check_response_compartment
              - narrow_search_to_patient

        """

    /// A client assertion valid at both instances (same token URL).
    func assertion() throws -> String {
        try a.assertion(for: Self.client, audience: Self.origin + "/auth/token")
    }
}

extension GatewayHarness {
    /// POSTs a client-credentials token request with `assertion`.
    func tokenRequest(assertion: String, scope: String = "system/MedicationDispense.rs") throws -> ClientResponse {
        let form = [
            ("grant_type", "client_credentials"), ("scope", scope),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", assertion),
        ].map { name, value in
            "\(name)=\(value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? value)"
        }.joined(separator: "&")
        return try request(
            "POST", "/auth/token", headers: [("Content-Type", "application/x-www-form-urlencoded")],
            body: Array(form.utf8))
    }

    /// A search for one patient's dispenses (under the shared quota).
    func dispenses(_ token: String) throws -> ClientResponse {
        try request("GET", "/fhir/MedicationDispense?patient=pt-alice", bearer: token)
    }

    /// A search for one patient's prescriptions (no quota).
    func prescriptions(_ token: String) throws -> ClientResponse {
        try request("GET", "/fhir/MedicationRequest?patient=pt-alice", bearer: token)
    }

    func readiness() throws -> ClientResponse { try request("GET", adminURL + "/readyz") }

    func revoke(_ json: String) throws -> ClientResponse {
        try request("POST", adminURL + "/admin/revoke", headers: [("Content-Type", "application/json")], body: Array(json.utf8))
    }

    func accessToken(client: String = GatewayPair.client) throws -> String {
        try token(client: client, scopes: ["system/MedicationDispense.rs", "system/MedicationRequest.rs"])
    }
}

/// The `jti` claim of a compact JWS (test tokens only).
func tokenID(_ token: String) -> String? {
    let parts = token.split(separator: ".")
    guard parts.count == 3 else { return nil }
    var text = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    while text.count % 4 != 0 { text += "=" }
    guard let data = Data(base64Encoded: text), let claims = try? JSONValue.parse(Array(data)) else { return nil }
    return claims["jti"]?.stringValue
}

/// 200 (written to Redis), or 202 (applied here, written by the next refresh) when a busy machine pushed the
/// Redis write past the gateway's 50 ms deadline: either way every instance applies it, which the callers
/// then check from the outside.
func revocationAccepted(_ answer: ClientResponse) -> Bool {
    (answer.status == 200 && answer.json?["status"] == "revoked")
        || (answer.status == 202 && answer.json?["shared_state_error"] != nil)
}

/// Polls `condition` every 50 ms for up to `seconds`; returns the time it took, or nil.
func eventually(within seconds: Double, _ condition: () throws -> Bool) rethrows -> Double? {
    let start = Date()
    while Date().timeIntervalSince(start) < seconds {
        if try condition() { return Date().timeIntervalSince(start) }
        usleep(50_000)
    }
    return nil
}

/// The suites that start Redis and several gateways, one at a time: run side by side they load two CI cores
/// enough to push Redis calls past the gateway's 50 ms deadline (503s and 202s where a test wants 200s).
@Suite("Several gateway instances sharing Redis", .serialized)
enum RedisSharingSuites {}

extension RedisSharingSuites {
    @Suite("Several instances sharing Redis", .serialized)
    struct MultiInstanceRedisTests {
        static let pair: GatewayPair = {
            do {
                return try GatewayPair()
            } catch {
                fatalError("gateway pair did not start: \(error)")
            }
        }()

        var pair: GatewayPair { Self.pair }

        @Test("an assertion used at one instance is refused at the other; a fresh one is accepted there")
        func replayAcrossInstances() throws {
            let assertion = try pair.assertion()
            let first = try pair.a.tokenRequest(assertion: assertion)
            #expect(first.status == 200, "\(first.text)")
            #expect(first.json?["access_token"]?.stringValue != nil)
            let replayed = try pair.b.tokenRequest(assertion: assertion)
            #expect(replayed.status == 400 || replayed.status == 401, "\(replayed.text)")
            #expect(replayed.json?["error"] == "invalid_client")
            #expect(replayed.json?["access_token"] == nil)
            let fresh = try pair.b.tokenRequest(assertion: try pair.assertion())
            #expect(fresh.status == 200, "the second instance accepts the client's assertions: \(fresh.text)")
        }

        @Test("a quota spent half at each instance trips at the configured total")
        func sharedQuota() throws {
            let tokenA = try pair.a.accessToken(client: GatewayPair.quotaClient)
            let tokenB = try pair.b.accessToken(client: GatewayPair.quotaClient)
            for round in 0..<(GatewayPair.quota / 2) {
                #expect(try pair.a.dispenses(tokenA).status == 200, "round \(round) at A")
                #expect(try pair.b.dispenses(tokenB).status == 200, "round \(round) at B")
            }
            let overA = try pair.a.dispenses(tokenA)
            let overB = try pair.b.dispenses(tokenB)
            #expect(overA.status == 429)
            #expect(overB.status == 429)
            #expect(Int(overB.header("Retry-After") ?? "") ?? 0 >= 1)
            #expect(overB.json?["resourceType"] == "OperationOutcome")
            // Requests under no quota are not affected.
            #expect(try pair.b.prescriptions(tokenB).status == 200)
        }

        @Test("a token revoked at one instance is refused at the other (target: within one second)")
        func revokeTokenAcrossInstances() throws {
            let token = try pair.b.accessToken()
            let other = try pair.b.accessToken()
            #expect(try pair.b.prescriptions(token).status == 200, "cached as valid before the revocation")
            let jti = try #require(tokenID(token))
            let answer = try pair.a.revoke(#"{"jti": "\#(jti)"}"#)
            #expect(revocationAccepted(answer), "\(answer.text)")
            // The target is 1 s; only a loose bound is asserted (busy CI cores), the time is printed.
            try MultiInstanceProcessTests.propagation("a token revocation (in-process pair)") {
                try pair.b.prescriptions(token).status == 401
            }
            #expect(try pair.b.prescriptions(other).status == 200, "another token of the same client still works")
            #expect(try pair.redis.cli("ZSCORE", "pdmp-gateway:revoked:tokens", jti) != "")
        }

        @Test("revoking a client at one instance refuses all its tokens at the other (target: within one second)")
        func revokeClientAcrossInstances() throws {
            let token = try pair.b.accessToken()
            #expect(try pair.b.prescriptions(token).status == 200)
            let answer = try pair.a.revoke(#"{"client_id": "\#(GatewayPair.client)", "ttl": 5}"#)
            #expect(revocationAccepted(answer), "\(answer.text)")
            try MultiInstanceProcessTests.propagation("a client revocation (in-process pair)") {
                try pair.b.prescriptions(token).status == 401
            }
            #expect(try pair.a.prescriptions(try pair.a.accessToken()).status == 401, "new tokens too")
            // The revocation ends after its ttl.
            let ended = try eventually(within: 8) { try pair.b.prescriptions(try pair.b.accessToken()).status == 200 }
            #expect(ended != nil)
        }

        @Test("malformed revocations are refused with 400", arguments: [
            "", "[]", #"{"jti": 7}"#, #"{"jti": "a", "client_id": "b"}"#, #"{"jti": ""}"#, #"{"jti": "a", "ttl": 0}"#,
            #"{"jti": "a", "extra": 1}"#, #"{"jti": "a", "jti": "b"}"#,
        ])
        func malformedRevocation(body: String) throws {
            let answer = try pair.a.revoke(body)
            #expect(answer.status == 400, "\(body) -> \(answer.status) \(answer.text)")
            #expect(answer.json?["error"] == "invalid_request")
        }

        @Test(
            "Redis stopped: 503 at the token endpoint and for quota'd requests, /readyz fails, the rest works; restarted: recovery without a gateway restart")
        func outageAndRecovery() throws {
            let tokenA = try pair.a.accessToken()
            let tokenB = try pair.b.accessToken()
            #expect(try pair.a.readiness().status == 200)
            #expect(try pair.b.readiness().status == 200)

            pair.redis.stop()
            for gateway in [pair.a, pair.b] {
                let failed = try eventually(within: 3) { try gateway.readiness().status == 503 }
                #expect(failed != nil, "/readyz still ready without Redis")
                #expect(try gateway.readiness().text.contains("shared state unavailable"))
            }
            let token = try pair.a.tokenRequest(assertion: try pair.assertion())
            #expect(token.status == 503, "\(token.text)")
            #expect(token.json?["error"] == "temporarily_unavailable")
            #expect(token.header("Retry-After") != nil)
            #expect(try pair.b.tokenRequest(assertion: try pair.assertion()).status == 503)
            let quota = try pair.b.dispenses(tokenB)
            #expect(quota.status == 503)
            #expect(quota.json?["resourceType"] == "OperationOutcome")
            #expect(try pair.a.prescriptions(tokenA).status == 200, "requests under no quota keep working")
            // A revocation made now applies here at once and reaches the other instance once Redis is back.
            let localVictim = try pair.a.accessToken()
            #expect(try pair.a.prescriptions(localVictim).status == 200)
            let localJTI = try #require(tokenID(localVictim))
            let local = try pair.a.revoke(#"{"jti": "\#(localJTI)"}"#)
            #expect(local.status == 202, "\(local.text)")
            #expect(try pair.a.prescriptions(localVictim).status == 401, "applies at once on the instance that revoked")
            let victim = try pair.b.accessToken()
            #expect(try pair.b.prescriptions(victim).status == 200)
            let victimJTI = try #require(tokenID(victim))
            #expect(try pair.a.revoke(#"{"jti": "\#(victimJTI)"}"#).status == 202)

            try pair.redis.start()
            for gateway in [pair.a, pair.b] {
                let ready = try eventually(within: 5) { try gateway.readiness().status == 200 }
                #expect(ready != nil, "/readyz did not recover after Redis came back")
            }
            let issued = try pair.b.tokenRequest(assertion: try pair.assertion())
            #expect(issued.status == 200, "\(issued.text)")
            #expect(try pair.a.dispenses(tokenA).status == 200)
            let propagated = try eventually(within: 2) { try pair.b.prescriptions(victim).status == 401 }
            #expect(propagated != nil, "the revocation made during the outage did not reach the other instance")
        }
    }
}
