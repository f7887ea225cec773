// The sample policies enforced on live requests (issue #6 "Done when"): permit, forbid with the rule's
// reason in the OperationOutcome and the audit, a shadow rule counted and audited but not enforced,
// `$pdmp-history` only for a practitioner registered to the client, and hot reload: a broken or empty
// policy set is refused with 422 and the old set keeps serving (POL-01 (b)), reload under load drops
// nothing, and the file watch picks up an edit by itself.

import Foundation
import GatewayCore
import GatewayTesting
import Testing

/// A gateway with its own copy of `policies/` plus a shadow trial, so that tests may edit the files.
enum PolicyGateway {
    static let npi = "1234567893"
    static let scopes = ["system/Patient.rs", "system/MedicationDispense.rs", "system/MedicationRequest.rs"]

    /// A shadow rule that would refuse every MedicationRequest search (enforced rules permit them).
    static let shadowTrial = """
        description: Trial - would refuse MedicationRequest searches.
        mode: shadow
        rules:
          - name: trial-no-medication-request-searches
            effect: forbid
            when:
              request.kind: search-type
              request.type: MedicationRequest
            reason: MedicationRequest searches would be refused.

        """

    static let directory: String = {
        let path = NSTemporaryDirectory() + "policies-" + UUID().uuidString
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            let source = GatewayHarness.repositoryRoot + "/policies"
            for name in try FileManager.default.contentsOfDirectory(atPath: source) where name.hasSuffix(".yaml") {
                try FileManager.default.copyItem(atPath: source + "/" + name, toPath: path + "/" + name)
            }
            try shadowTrial.write(toFile: path + "/shadow-trial.yaml", atomically: true, encoding: .utf8)
        } catch {
            fatalError("policy copy failed: \(error)")
        }
        return path
    }()

    static let harness: GatewayHarness = {
        do {
            return try GatewayHarness(
                clients: [
                    .init(id: "dr-carol", scopes: scopes, npis: [npi], roles: ["prescriber"]),
                    .init(id: "dr-dave", scopes: scopes, npis: ["1111111112"], roles: ["prescriber"]),
                ],
                policyDirectory: directory)
        } catch {
            fatalError("gateway harness did not start: \(error)")
        }
    }()

    static func body(_ name: String) throws -> [UInt8] {
        let path = GatewayHarness.repositoryRoot + "/policies/tests/bodies/" + name
        return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }
}

@Suite("Policies on live requests", .serialized)
struct PolicyIntegrationTests {
    var gw: GatewayHarness { PolicyGateway.harness }

    func token(_ client: String = "dr-carol") throws -> String {
        try gw.token(client: client, scopes: PolicyGateway.scopes)
    }

    func diagnostics(_ response: ClientResponse) -> String {
        response.json?["issue"]?.arrayValue?.compactMap { $0["diagnostics"]?.stringValue }.joined(separator: " ") ?? ""
    }

    /// Replaces a policy file's content for the duration of `body`, restoring it (and reloading) after.
    func withPolicyFile(_ name: String, content: String?, _ body: () throws -> Void) throws {
        let path = PolicyGateway.directory + "/" + name
        let original = try String(contentsOfFile: path, encoding: .utf8)
        defer {
            try? original.write(toFile: path, atomically: true, encoding: .utf8)
            _ = try? gw.admin("POST", "/admin/reload")
        }
        if let content {
            try content.write(toFile: path, atomically: true, encoding: .utf8)
        } else {
            try FileManager.default.removeItem(atPath: path)
        }
        try body()
    }

    @Test("a single-patient search is permitted, reaches the upstream, and its audit names the permitting rule")
    func permit() throws {
        let (id, response) = try gw.tracked("GET", "/fhir/MedicationDispense?patient=pt-1", bearer: token())
        #expect(response.status == 200)
        #expect(try gw.upstream(for: id).count == 1)
        let event = try #require(try gw.auditChain.event(for: id))
        #expect(AuditChain.policyRule(event) == "patient-data:search-one-patient")
        #expect(AuditChain.policyDetails(event, "decision") == ["permit"])
    }

    @Test("a population query is forbidden: 403 with the rule's reason, nothing upstream, reason in the audit")
    func forbidWithReason() throws {
        let (id, response) = try gw.tracked("GET", "/fhir/MedicationDispense?status=completed", bearer: token())
        #expect(response.status == 403)
        #expect(response.json?["resourceType"] == "OperationOutcome")
        #expect(diagnostics(response).contains("Population queries are not allowed"))
        #expect(try gw.upstream(for: id).isEmpty)
        let event = try #require(try gw.auditChain.event(for: id))
        #expect(event["outcome"]?.stringValue == "4")
        #expect(AuditChain.policyRule(event) == "prohibited:no-population-queries")
        #expect(AuditChain.policyDetails(event, "reason").first?.contains("Population queries") == true)
    }

    @Test("$pdmp-history for the client's own registered practitioner is permitted")
    func historyRegisteredPractitioner() throws {
        let (id, response) = try gw.tracked(
            "POST", "/fhir/Patient/$pdmp-history", bearer: token(),
            headers: [("Content-Type", "application/fhir+json")], body: PolicyGateway.body("history-carol.json"))
        #expect(response.status == 200, "\(response.text)")
        #expect(try gw.upstream(for: id).count == 1)
        let event = try #require(try gw.auditChain.event(for: id))
        #expect(AuditChain.policyRule(event) == "pdmp-history:history-by-prescriber-or-pharmacist")
    }

    @Test("$pdmp-history for a practitioner not registered to the client: 403 with the reason, nothing upstream")
    func historyUnregisteredPractitioner() throws {
        let cases = [("dr-carol", "history-unregistered-practitioner.json"), ("dr-dave", "history-carol.json")]
        for (client, file) in cases {
            let (id, response) = try gw.tracked(
                "POST", "/fhir/Patient/$pdmp-history", bearer: token(client),
                headers: [("Content-Type", "application/fhir+json")], body: PolicyGateway.body(file))
            #expect(response.status == 403, "\(client) \(file)")
            #expect(diagnostics(response).contains("not registered to this requester"))
            #expect(try gw.upstream(for: id).isEmpty)
            let event = try #require(try gw.auditChain.event(for: id))
            #expect(AuditChain.policyRule(event) == "pdmp-history:practitioner-not-registered")
        }
    }

    @Test("a shadow rule that would deny is counted, logged and audited, but the request is served")
    func shadowNotEnforced() throws {
        let before = try gw.metric("gateway_policy_shadow_disagreements_total")
        let (id, response) = try gw.tracked("GET", "/fhir/MedicationRequest?patient=pt-1", bearer: token())
        #expect(response.status == 200)
        #expect(try gw.upstream(for: id).count == 1)
        let after = try gw.metric("gateway_policy_shadow_disagreements_total")
        #expect(after - before >= 1)
        let event = try #require(try gw.auditChain.event(for: id))
        #expect(AuditChain.policyDetails(event, "decision") == ["permit"])
        #expect(AuditChain.policyDetails(event, "shadow-decision") == ["deny"])
        #expect(AuditChain.policyDetails(event, "shadow-rule") == ["shadow-trial:trial-no-medication-request-searches"])

        // A request the shadow rule does not match is not a disagreement.
        let quiet = try gw.metric("gateway_policy_shadow_disagreements_total")
        let (otherID, other) = try gw.tracked("GET", "/fhir/MedicationDispense?patient=pt-1", bearer: token())
        #expect(other.status == 200)
        #expect(try gw.metric("gateway_policy_shadow_disagreements_total") == quiet)
        let otherEvent = try #require(try gw.auditChain.event(for: otherID))
        #expect(AuditChain.policyDetails(otherEvent, "shadow-decision") == [])
    }

    @Test("POL-01 (b): reloading a broken policy file answers 422 with the errors and the old set keeps serving")
    func brokenReloadKeepsOldSet() throws {
        let broken = """
            description: broken on purpose
            rules:
              - name: no-population-queries
                effect: maybe
                when:
                  request.flavour: vanilla

            """
        try withPolicyFile("prohibited.yaml", content: broken) {
            let reload = try gw.admin("POST", "/admin/reload")
            #expect(reload.status == 422)
            #expect(reload.body.contains("refused"))
            #expect(reload.body.contains("prohibited.yaml"))
            try expectOldSetServes()
        }
    }

    @Test("POL-01 (b): an emptied policy file, or a policy directory without policies, is refused too")
    func emptyReloadKeepsOldSet() throws {
        try withPolicyFile("prohibited.yaml", content: "") {
            let reload = try gw.admin("POST", "/admin/reload")
            #expect(reload.status == 422, "\(reload.body)")
            try expectOldSetServes()
        }
        // Every policy file gone: never "allow by default".
        let directory = PolicyGateway.directory
        let aside = directory + "-aside"
        try FileManager.default.moveItem(atPath: directory, toPath: aside)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer {
            try? FileManager.default.removeItem(atPath: directory)
            try? FileManager.default.moveItem(atPath: aside, toPath: directory)
            _ = try? gw.admin("POST", "/admin/reload")
        }
        let reload = try gw.admin("POST", "/admin/reload")
        #expect(reload.status == 422, "\(reload.body)")
        try expectOldSetServes()
    }

    func expectOldSetServes() throws {
        let denied = try gw.tracked("GET", "/fhir/MedicationDispense?status=completed", bearer: token())
        #expect(denied.response.status == 403)
        #expect(diagnostics(denied.response).contains("Population queries are not allowed"))
        let allowed = try gw.tracked("GET", "/fhir/MedicationDispense?patient=pt-2", bearer: token())
        #expect(allowed.response.status == 200)
    }

    @Test("a valid reload answers 200, and reloads under load drop no request")
    func reloadUnderLoad() throws {
        let token = try token()
        let failures = LockedList()
        let workers = (0..<2).map { worker in
            Thread { [gw] in
                for n in 0..<25 {
                    let allowed = n.isMultiple(of: 3) == false
                    let path = allowed
                        ? "/fhir/MedicationDispense?patient=pt-\(worker)-\(n)" : "/fhir/MedicationDispense"
                    do {
                        let (id, response) = try gw.tracked("GET", path, bearer: token)
                        if response.status != (allowed ? 200 : 403) { failures.append("\(id): \(response.status)") }
                    } catch {
                        failures.append("\(path): \(error)")
                    }
                }
                failures.finish()
            }
        }
        let before = try gw.metric("gateway_reloads_total")
        workers.forEach { $0.start() }
        let file = PolicyGateway.directory + "/patient-data.yaml"
        let original = try String(contentsOfFile: file, encoding: .utf8)
        defer { try? original.write(toFile: file, atomically: true, encoding: .utf8) }
        var reloads: [Int] = []
        for n in 0..<5 {
            // A real change each time (a comment), so that every reload builds a new set.
            try (original + "# reload \(n)\n").write(toFile: file, atomically: true, encoding: .utf8)
            reloads.append(try gw.admin("POST", "/admin/reload").status)
            usleep(150_000)
        }
        failures.wait(for: workers.count)
        #expect(reloads == [200, 200, 200, 200, 200])
        #expect(failures.items == [])
        #expect(try gw.metric("gateway_reloads_total") - before >= 5)
    }

    @Test("the file watch reloads an edited policy by itself within a few seconds")
    func fileWatchReloads() throws {
        let tightened = PolicyGateway.shadowTrial.replacingOccurrences(of: "mode: shadow\n", with: "")
        try withPolicyFile("shadow-trial.yaml", content: tightened) {
            // No /admin/reload here: the watcher polls once a second.
            var status = 0
            for _ in 0..<40 {
                status = try gw.tracked("GET", "/fhir/MedicationRequest?patient=pt-1", bearer: token()).response.status
                if status == 403 { break }
                usleep(250_000)
            }
            #expect(status == 403)
            let (_, response) = try gw.tracked("GET", "/fhir/MedicationRequest?patient=pt-1", bearer: token())
            #expect(diagnostics(response).contains("MedicationRequest searches would be refused"))
        }
        // Restored (and reloaded): served again.
        let (_, again) = try gw.tracked("GET", "/fhir/MedicationRequest?patient=pt-1", bearer: token())
        #expect(again.status == 200)
    }
}

/// Strings collected from several threads, and a count of finished threads.
final class LockedList: @unchecked Sendable {
    // Safe: every access holds `condition`.
    private let condition = NSCondition()
    private var values: [String] = []
    private var finished = 0

    func append(_ value: String) {
        condition.lock()
        values.append(value)
        condition.unlock()
    }

    func finish() {
        condition.lock()
        finished += 1
        condition.broadcast()
        condition.unlock()
    }

    func wait(for count: Int) {
        condition.lock()
        while finished < count { condition.wait() }
        condition.unlock()
    }

    var items: [String] {
        condition.lock()
        defer { condition.unlock() }
        return values
    }
}
