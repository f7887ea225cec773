// A range of audit inputs covering every event shape and optional member, for the tests that compare the
// direct canonical writer with the canonical serializer.

import FHIR
import GatewayCore

@testable import Audit

enum AuditEventCorpus {
    static let builders: [AuditEventBuilder] = [
        AuditEventBuilder(
            configuration: .init(
                instanceID: "gw-1", site: "gw.example.org", fhirBaseURL: "https://gw.example.org/fhir",
                tokenEndpointURL: "https://gw.example.org/auth/token", identifierHashKey: Array("k".utf8))),
        AuditEventBuilder(
            configuration: .init(
                instanceID: "gw \"quoted\" \\ \u{1}", instanceSystem: "urn:x", fhirBaseURL: "https://h/fhir",
                tokenEndpointURL: "https://h/token", clientIDSystem: "urn:c", identifierHashKey: [],
                identifierHashKeyID: "k2", clearIdentifierSystems: [])),
    ]

    static let clients: [AuditClient?] = [
        nil, AuditClient(id: "c1"), AuditClient(id: "c\"2\n", name: "Clinic \u{e9}\u{1F600}", issuer: "https://as"),
        AuditClient(id: "c3", issuer: "https://gw.example.org"),
    ]

    static let decisions: [AuditDecision?] = [
        nil, AuditDecision(permitted: true, rule: "own", reason: "in panel"),
        AuditDecision(permitted: false, rule: nil),
        AuditDecision(
            permitted: false, rule: "r", reason: "tab\there", shadowPermitted: true, shadowRules: ["a:b", "c"]),
    ]

    static let outcomes: [AuditInput.Outcome] = [
        .success, .denied(status: 403), .failure(status: 404), .failure(status: 502),
    ]

    static var interactions: [Interaction] {
        var read = Interaction(kind: .read, method: "GET", resourceType: "Patient", id: "p1")
        read.patients = ["p1"]
        let vread = Interaction(kind: .vread, method: "GET", resourceType: "Observation", id: "o", versionId: "3")
        var search = Interaction(kind: .searchType, method: "GET", resourceType: "MedicationDispense")
        search.patients = ["p2", "p1"]
        let create = Interaction(kind: .create, method: "POST", resourceType: "MedicationRequest")
        let update = Interaction(kind: .update, method: "PUT", resourceType: "Patient", id: "p9", patients: ["p9"])
        let delete = Interaction(kind: .delete, method: "DELETE", resourceType: "Observation", id: "x")
        let history = Interaction(kind: .historyInstance, method: "GET", resourceType: "Patient", id: "p1")
        let compartment = Interaction(
            kind: .searchCompartment, method: "GET", resourceType: "Patient", id: "p1", compartmentTargetType: "*")
        let batch = Interaction(
            kind: .batch, method: "POST",
            entries: [
                Interaction(kind: .read, method: "GET", resourceType: "Patient", id: "p3", patients: ["p3"]),
                Interaction(kind: .searchSystem, method: "GET"), create,
            ])
        let practitioner = PDMPHistoryRequest.Practitioner(
            identifiers: ["http://hl7.org/fhir/sid/us-npi|1234567893", "urn:dea|AB123"])
        let pdmp = Interaction(
            kind: .operation, method: "POST", resourceType: "Patient", operation: "pdmp-history",
            pdmpHistory: PDMPHistoryRequest(
                patientFamily: "Doe",
                patientIdentifiers: ["urn:mrn|M1", "http://hl7.org/fhir/sid/us-ssn|123456789", "bare"],
                authorizedPractitioner: practitioner, practitionerRole: "prescriber"))
        let pdmpAnonymous = Interaction(
            kind: .operation, method: "POST", operation: "pdmp-history",
            pdmpHistory: PDMPHistoryRequest(
                authorizedPractitioner: .init(identifiers: ["http://hl7.org/fhir/sid/us-ssn|1"])))
        let unknownOperation = Interaction(kind: .operation, method: "GET", operation: "everything")
        let capabilities = Interaction(kind: .capabilities, method: "GET")
        return [
            read, vread, search, create, update, delete, history, compartment, batch, pdmp, pdmpAnonymous,
            unknownOperation, capabilities,
        ]
    }

    static let tokens: [AuditTokenRequest] = [
        AuditTokenRequest(),
        AuditTokenRequest(
            grantType: "client_credentials", requestedScope: "system/Patient.rs system/*.r",
            clientAssertionType: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", assertionJTI: "a-1",
            grantedScope: "system/Patient.rs", issuedTokenJTI: "t-1", expiresIn: 300),
        AuditTokenRequest(grantType: "bogus & = %", assertionJTI: "a\"2"),
    ]

    static let introspections: [AuditIntrospection] = [
        AuditIntrospection(),
        AuditIntrospection(
            endpointURL: "https://gw.example.org/auth/introspect", active: true, introspectedTokenJTI: "t-9"),
        AuditIntrospection(endpointURL: "https://gw.example.org/auth/introspect", active: false),
    ]

    /// Every combination worth writing, in a fixed order (a few hundred inputs).
    static var inputs: [AuditInput] {
        var result: [AuditInput] = []
        var n = 0
        for interaction in interactions {
            for outcome in outcomes {
                n += 1
                result.append(input(.fhir(interaction), outcome: outcome, n: n))
            }
        }
        let others = tokens.map(AuditInput.Subject.tokenRequest) + introspections.map(AuditInput.Subject.introspection)
        for subject in others {
            for outcome in [AuditInput.Outcome.success, .denied(status: 401)] {
                n += 1
                result.append(input(subject, outcome: outcome, n: n))
            }
        }
        return result
    }

    static func input(_ subject: AuditInput.Subject, outcome: AuditInput.Outcome, n: Int) -> AuditInput {
        let queries: [String?] = [nil, "patient=p1&_count=20", "identifier=http://hl7.org/fhir/sid/us-ssn|1&x=%22"]
        let purposes = n % 3 == 0 ? [] : [AuditCoding(system: "urn:v3-ActReason", code: "TREAT")]
        return AuditInput(
            time: 1_736_935_200.123 + Double(n) * 86_400.5, outcome: outcome,
            outcomeDescription: n % 4 == 0 ? nil : "why \(n) \"quoted\"\r\n", subject: subject,
            request: AuditHTTPRequest(
                method: n % 5 == 0 ? "POST" : "GET", path: "/fhir/Patient", query: queries[n % 3],
                host: n % 2 == 0 ? "gw.example.org" : nil),
            client: clients[n % clients.count], peerAddress: n % 2 == 0 ? "203.0.113.7" : "::1",
            requestID: n % 6 == 5 ? nil : "req-\(n)", decision: decisions[n % decisions.count],
            tokenJTI: n % 3 == 1 ? nil : "jti-\(n)", purposeOfUse: purposes,
            responsePatients: n % 2 == 0 ? [.id("p1"), .id("p7"), .identifier(system: "urn:mrn", value: "M\(n)")] : [],
            resultReference: n % 7 == 0 ? "MedicationRequest/9/_history/2" : nil)
    }
}
