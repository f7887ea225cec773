// Audit records from the outside (issue #7): every request the gateway decides, allowed or denied, and
// every token it issues or refuses leaves a record in the hash chain before its answer; the chain verifies;
// an audit directory that cannot be written turns answers into 503. Also the shared helpers the policy,
// crash and shipping tests use to read the chain and the admin listener.

import Audit
import Foundation
import GatewayCore
import GatewayTesting
import Testing

/// The chain files of an audit directory, read back as records.
struct AuditChain {
    let directory: String

    /// Every record line, parsed, in chain order.
    func records() throws -> [JSONValue] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let files = names.filter { $0.hasPrefix("audit-") && $0.hasSuffix(".ndjson") }.sorted()
        var records: [JSONValue] = []
        for file in files {
            let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + file))
            for line in data.split(separator: 0x0A) where !line.isEmpty {
                records.append(try JSONValue.parse(Array(line)))
            }
        }
        return records
    }

    /// The raw text of every chain file (to look for forbidden tokens such as `null`).
    func text() -> String {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".ndjson") }.sorted().compactMap {
            try? String(contentsOfFile: directory + "/" + $0, encoding: .utf8)
        }.joined()
    }

    /// The AuditEvent of the record carrying `requestID` in its BALP transaction entity, if any.
    func event(for requestID: String) throws -> JSONValue? {
        try records().compactMap(\.["event"]).first { Self.requestIDs(of: $0).contains(requestID) }
    }

    /// X-Request-IDs named by an event's `XrequestId` transaction entities.
    static func requestIDs(of event: JSONValue) -> [String] {
        (event["entity"]?.arrayValue ?? []).compactMap { entity in
            guard entity["type"]?["code"]?.stringValue == "XrequestId" else { return nil }
            return entity["what"]?["identifier"]?["value"]?.stringValue
        }
    }

    /// How many times each request id occurs across the chain.
    func requestIDCounts() throws -> [String: Int] {
        var counts: [String: Int] = [:]
        for record in try records() {
            for id in Self.requestIDs(of: record["event"] ?? .null) { counts[id, default: 0] += 1 }
        }
        return counts
    }

    /// `valueString` of the policy entity's details with type `name`.
    static func policyDetails(_ event: JSONValue, _ name: String) -> [String] {
        (event["entity"]?.arrayValue ?? []).flatMap { entity -> [String] in
            (entity["detail"]?.arrayValue ?? []).compactMap { detail in
                detail["type"]?.stringValue == name ? detail["valueString"]?.stringValue : nil
            }
        }
    }

    /// The deciding rule named by the policy entity (object role 13).
    static func policyRule(_ event: JSONValue) -> String? {
        (event["entity"]?.arrayValue ?? []).first { $0["role"]?["code"]?.stringValue == "13" }?["what"]?["identifier"]?[
            "value"]?.stringValue
    }
}

extension GatewayHarness {
    var auditChain: AuditChain { AuditChain(directory: auditDirectory) }

    /// A request with a fresh X-Request-ID; returns the id with the response.
    func tracked(
        _ method: String, _ path: String, bearer: String? = nil, headers: [(String, String)] = [],
        body: [UInt8]? = nil
    ) throws -> (id: String, response: ClientResponse) {
        let id = "t-" + RandomID.hex128()
        let response = try request(method, path, headers: [("X-Request-ID", id)] + headers, body: body, bearer: bearer)
        return (id, response)
    }

    /// A call to the admin listener (plain HTTP on loopback) with curl.
    func admin(_ method: String, _ path: String) throws -> (status: Int, body: String) {
        let output = try Subprocess.run(
            "/usr/bin/curl",
            ["-s", "-X", method, "-o", "-", "-w", "\n%{http_code}", "--max-time", "20", adminURL + path])
        let text = output.stdoutText
        let split = text.range(of: "\n", options: .backwards)
        let status = split.map { Int(text[$0.upperBound...]) ?? 0 } ?? 0
        return (status, split.map { String(text[..<$0.lowerBound]) } ?? text)
    }

    /// The value of one unlabelled series on the admin `/metrics` page (0 when absent).
    func metric(_ name: String) throws -> Double {
        let page = try admin("GET", "/metrics").body
        for line in page.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.split(separator: " ").last ?? "") ?? 0
        }
        return 0
    }

    /// Asks the token endpoint for a token with a signed client assertion (SMART backend services §1.5).
    func requestToken(client: String, scope: String) throws -> (id: String, response: ClientResponse) {
        let form = "grant_type=client_credentials&scope=\(scope.replacingOccurrences(of: " ", with: "+"))"
            + "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
            + "&client_assertion=" + (try assertion(for: client))
        return try tracked(
            "POST", "/auth/token", headers: [("Content-Type", "application/x-www-form-urlencoded")],
            body: Array(form.utf8))
    }
}

@Suite("Audit records of live requests", .serialized)
struct AuditIntegrationTests {
    static let scopes = ["system/MedicationDispense.rs", "system/Patient.rs"]
    static let harness: GatewayHarness = {
        do {
            return try GatewayHarness(clients: [
                .init(id: "audit-app", scopes: scopes, npis: ["1234567893"], roles: ["prescriber"]),
            ])
        } catch {
            fatalError("gateway harness did not start: \(error)")
        }
    }()

    var gw: GatewayHarness { Self.harness }

    @Test("allowed, denied, unauthenticated, token-issued and token-refused requests each leave one record")
    func everyDecisionIsRecorded() throws {
        let token = try gw.token(client: "audit-app", scopes: Self.scopes)
        var answered: [(String, Int)] = []
        let allowed = try gw.tracked("GET", "/fhir/MedicationDispense?patient=pt-1", bearer: token)
        #expect(allowed.response.status == 200)
        answered.append((allowed.id, allowed.response.status))
        let population = try gw.tracked("GET", "/fhir/MedicationDispense", bearer: token)
        #expect(population.response.status == 403)
        answered.append((population.id, population.response.status))
        let anonymous = try gw.tracked("GET", "/fhir/MedicationDispense?patient=pt-1")
        #expect(anonymous.response.status == 401)
        answered.append((anonymous.id, anonymous.response.status))
        let issued = try gw.requestToken(client: "audit-app", scope: "system/Patient.rs")
        #expect(issued.response.status == 200)
        answered.append((issued.id, issued.response.status))
        let refused = try gw.tracked(
            "POST", "/auth/token", headers: [("Content-Type", "application/x-www-form-urlencoded")],
            body: Array("grant_type=client_credentials&scope=system/Patient.rs".utf8))
        #expect(refused.response.status == 400 || refused.response.status == 401)
        answered.append((refused.id, refused.response.status))

        let counts = try gw.auditChain.requestIDCounts()
        for (id, status) in answered {
            #expect(counts[id] == 1, "request \(id) answered \(status) has \(counts[id] ?? 0) records")
        }
        let chain = gw.auditChain
        let allowedEvent = try #require(try chain.event(for: allowed.id))
        #expect(allowedEvent["outcome"]?.stringValue == "0")
        #expect(AuditChain.policyDetails(allowedEvent, "decision") == ["permit"])
        let deniedEvent = try #require(try chain.event(for: population.id))
        #expect(deniedEvent["outcome"]?.stringValue == "4")
        #expect(AuditChain.policyRule(deniedEvent) == "prohibited:no-population-queries")
        #expect(AuditChain.policyDetails(deniedEvent, "reason").first?.contains("Population queries") == true)
        let issuedEvent = try #require(try chain.event(for: issued.id))
        #expect(issuedEvent["type"]?["code"]?.stringValue == "110114")
        #expect(issuedEvent["outcome"]?.stringValue == "0")
        let refusedEvent = try #require(try chain.event(for: refused.id))
        #expect(refusedEvent["outcome"]?.stringValue == "4")
    }

    @Test("the chain on disk verifies and every request id the client got an answer for is in it")
    func chainVerifies() throws {
        let token = try gw.token(client: "audit-app", scopes: Self.scopes)
        var ids: [String] = []
        for n in 0..<6 {
            let path = n.isMultiple(of: 2) ? "/fhir/MedicationDispense?patient=pt-\(n)" : "/fhir/MedicationDispense"
            let (id, response) = try gw.tracked("GET", path, bearer: token)
            #expect(response.status == (n.isMultiple(of: 2) ? 200 : 403))
            #expect(response.header("X-Request-ID") == id)
            ids.append(id)
        }
        let report = AuditChainVerifier.verify(directory: gw.auditDirectory)
        #expect(report.isValid, "\(report)")
        #expect(report.recordsChecked >= ids.count)
        let counts = try gw.auditChain.requestIDCounts()
        #expect(ids.filter { counts[$0] != 1 } == [])
    }

    @Test("a token sent in the query string and a bare SSN in a search are not kept in the audit, even in base64")
    func credentialsAndSSNsStayOut() throws {
        let token = try gw.token(client: "audit-app", scopes: Self.scopes)
        // RFC 6750 §2.3 query tokens are refused (the gateway takes the header only), and the record of the
        // refusal must not keep the token for the years audit files live.
        let inQuery = try gw.tracked("GET", "/fhir/MedicationDispense?patient=pt-1&access_token=" + token)
        #expect(inQuery.response.status == 401)
        let bareSSN = try gw.tracked("GET", "/fhir/Patient?identifier=966780235", bearer: token)
        let chained = try gw.tracked("GET", "/fhir/MedicationDispense?patient.identifier=966-78-0235", bearer: token)
        let chain = gw.auditChain
        for id in [inQuery.id, bareSSN.id, chained.id] {
            let event = try #require(try chain.event(for: id), "no record for \(id)")
            let queries = (event["entity"]?.arrayValue ?? []).compactMap { entity -> String? in
                guard let encoded = entity["query"]?.stringValue, let data = Data(base64Encoded: encoded) else {
                    return nil
                }
                return String(decoding: data, as: UTF8.self)
            }
            #expect(!queries.isEmpty)
            let written = event.serializedString() + queries.joined()
            #expect(!written.contains(token) && !written.contains(String(token.prefix(40))))
            #expect(!written.contains("966780235") && !written.contains("966-78-0235"), "\(queries)")
        }
    }

    @Test("live events carry no JSON null (FHIR JSON has none), e.g. no \"purposeOfEvent\": null")
    func noNullsOnDisk() throws {
        let token = try gw.token(client: "audit-app", scopes: Self.scopes)
        _ = try gw.tracked("GET", "/fhir/MedicationDispense?patient=pt-9", bearer: token)
        _ = try gw.tracked("GET", "/fhir/MedicationDispense", bearer: token)
        let text = gw.auditChain.text()
        #expect(!text.isEmpty)
        #expect(!text.contains(":null"))
        #expect(!text.contains("purposeOfEvent\":null"))
    }

    @Test("an audit directory that cannot be written: requests get 503 and the metric counts them")
    func unwritableDirectory() throws {
        // Root can write read-only directories; a path under a regular file fails with ENOTDIR for anyone.
        let base = NSTemporaryDirectory() + "audit-unwritable-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        _ = FileManager.default.createFile(atPath: base + "/plain-file", contents: Data("x".utf8))
        _ = FileManager.default.createFile(
            atPath: base + "/identifier.key", contents: Data(repeating: 7, count: 32),
            attributes: [.posixPermissions: 0o600])
        let broken = try GatewayHarness(
            clients: [.init(id: "audit-app", scopes: Self.scopes, npis: ["1234567893"])],
            auditConfig: "audit:\n  directory: \(base)/plain-file/audit\n"
                + "  identifier_hash_key: \(base)/identifier.key\n")
        defer { broken.stop() }
        let before = try broken.metric("gateway_audit_unavailable_responses_total")
        let token = try broken.token(client: "audit-app", scopes: Self.scopes)
        let allowed = try broken.tracked("GET", "/fhir/MedicationDispense?patient=pt-1", bearer: token)
        let denied = try broken.tracked("GET", "/fhir/MedicationDispense", bearer: token)
        let token2 = try broken.requestToken(client: "audit-app", scope: "system/Patient.rs")
        for response in [allowed.response, denied.response, token2.response] {
            #expect(response.status == 503)
        }
        #expect(allowed.response.json?["resourceType"] == "OperationOutcome")
        // The record is written after the upstream answered; without a durable record that answer is withheld.
        let after = try broken.metric("gateway_audit_unavailable_responses_total")
        #expect(after - before >= 3)
        let ready = try broken.admin("GET", "/readyz")
        #expect(ready.status == 503)
        #expect(ready.body.contains("audit"))
    }
}
