// `audit.enabled: false` (loopback load-test comparisons only, deploy/loadtest): requests are decided and
// answered as usual but leave no record; turning it back on by reload records the next request again.

import Foundation
import Gateway
import GatewayCore
import GatewayTesting
import Testing

@Suite("audit.enabled: false")
struct AuditDisabledTests {
    @Test("decisions are answered as usual and leave no record; a reload with audit on records again")
    func noRecordsWhileDisabled() throws {
        let scopes = ["system/MedicationDispense.rs", "system/Patient.rs"]
        let gw = try GatewayHarness(
            clients: [.init(id: "quiet-app", scopes: scopes, npis: ["1234567893"])],
            auditConfig: "audit:\n  directory: audit\n  enabled: false\n")
        defer { gw.stop() }
        let token = try gw.token(client: "quiet-app", scopes: scopes)
        let allowed = try gw.tracked("GET", "/fhir/MedicationDispense?patient=pt-1", bearer: token)
        #expect(allowed.response.status == 200)
        let denied = try gw.tracked("GET", "/fhir/MedicationDispense", bearer: token)
        #expect(denied.response.status == 403)
        #expect(try gw.auditChain.records().isEmpty)

        let configPath = gw.directory + "/gateway.yaml"
        let config = try String(contentsOfFile: configPath, encoding: .utf8)
        try config.replacingOccurrences(of: "  enabled: false\n", with: "")
            .write(toFile: configPath, atomically: true, encoding: .utf8)
        #expect(gw.runtime.reload().isEmpty)
        let recorded = try gw.tracked("GET", "/fhir/MedicationDispense?patient=pt-1", bearer: token)
        #expect(recorded.response.status == 200)
        let counts = try gw.auditChain.requestIDCounts()
        #expect(counts[recorded.id] == 1)
        #expect(counts[allowed.id] == nil && counts[denied.id] == nil)
    }
}
