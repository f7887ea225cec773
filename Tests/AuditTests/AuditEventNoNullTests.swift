// FHIR R4 JSON has no nulls (json.html: "null values are not allowed"): an absent element is left out.
// JSONValue is ExpressibleByNilLiteral, so a `cond ? nil : value` in the builder silently wrote
// `"purposeOfEvent": null` into live events; these tests walk every shape for any `.null`.

import FHIR
import Foundation
import GatewayCore
import Testing

@testable import Audit

@Suite("AuditEvents contain no JSON null")
struct AuditEventNoNullTests {
    let builder = AuditEventBuilder(
        configuration: .init(
            instanceID: "gw-1", fhirBaseURL: "https://gw.example.org/fhir",
            tokenEndpointURL: "https://gw.example.org/auth/token",
            identifierHashKey: Array("test-identifier-hash-key-0123456".utf8)))

    /// Paths of every `.null` inside `value`.
    static func nullPaths(_ value: JSONValue, at path: String = "$") -> [String] {
        switch value {
        case .null:
            return [path]
        case .array(let items):
            return items.enumerated().flatMap { nullPaths($0.element, at: "\(path)[\($0.offset)]") }
        case .object(let object):
            return object.members.flatMap { nullPaths($0.value, at: path + "." + $0.key) }
        default:
            return []
        }
    }

    func input(_ subject: AuditInput.Subject, outcome: AuditInput.Outcome, purpose: Bool) -> AuditInput {
        AuditInput(
            time: 1_736_935_200, outcome: outcome, outcomeDescription: nil, subject: subject,
            request: AuditHTTPRequest(method: "GET", path: "/fhir/Patient/p1", query: nil, host: nil),
            client: nil, peerAddress: "127.0.0.1", requestID: nil, decision: nil, tokenJTI: nil,
            purposeOfUse: purpose
                ? [AuditCoding(system: "http://terminology.hl7.org/CodeSystem/v3-ActReason", code: "TREAT")] : [],
            responsePatients: [])
    }

    @Test("allowed, denied and failed requests without a purpose of use leave purposeOfEvent out")
    func noPurposeNoNull() {
        var read = Interaction(kind: .read, method: "GET", resourceType: "Patient", id: "p1")
        read.patients = ["p1"]
        let outcomes: [AuditInput.Outcome] = [.success, .denied(status: 403), .failure(status: 502)]
        for outcome in outcomes {
            let event = builder.build(input(.fhir(read), outcome: outcome, purpose: false))
            #expect(Self.nullPaths(event) == [], "outcome \(outcome)")
            #expect(event["purposeOfEvent"] == nil)
            #expect(!event.serializedString().contains("null"))
        }
    }

    @Test("a purpose of use is still written when there is one")
    func purposeKept() {
        let read = Interaction(kind: .read, method: "GET", resourceType: "Patient", id: "p1")
        for outcome: AuditInput.Outcome in [.success, .denied(status: 403)] {
            let event = builder.build(input(.fhir(read), outcome: outcome, purpose: true))
            #expect(event["purposeOfEvent"]?.arrayValue?.count == 1)
            #expect(Self.nullPaths(event) == [])
        }
    }

    @Test("a batch whose entries name no resource type gets no null data entities")
    func batchEntries() {
        var batch = Interaction(kind: .batch, method: "POST")
        batch.entries = [
            Interaction(kind: .read, method: "GET", resourceType: "Patient", id: "p1"),
            Interaction(kind: .operation, method: "POST", operation: "unclassified"),
        ]
        let event = builder.build(input(.fhir(batch), outcome: .success, purpose: false))
        #expect(Self.nullPaths(event) == [])
    }

    @Test("token issuance and refusal events contain no null")
    func tokenEvents() {
        var token = AuditTokenRequest(grantType: "client_credentials", requestedScope: "system/Patient.rs")
        token.issuedTokenJTI = "jti-1"
        for outcome: AuditInput.Outcome in [.success, .denied(status: 400)] {
            let event = builder.build(input(.tokenRequest(token), outcome: outcome, purpose: false))
            #expect(Self.nullPaths(event) == [])
        }
    }
}
