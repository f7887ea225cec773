import FHIR
import Foundation
import GatewayCore
import GatewayCrypto
import Testing

@testable import Audit

@Suite("AuditEvent builder (IHE BALP shapes)")
struct AuditEventBuilderTests {
    static let key: [UInt8] = Array("test-identifier-hash-key-0123456".utf8)
    let builder = AuditEventBuilder(
        configuration: .init(
            instanceID: "gw-1", site: "gw.example.org", fhirBaseURL: "https://gw.example.org/fhir",
            tokenEndpointURL: "https://gw.example.org/auth/token", identifierHashKey: key))

    static let client = AuditClient(id: "pdmp-client-42", name: "Clinic EHR", issuer: "https://gw.example.org")

    func input(
        _ interaction: Interaction, outcome: AuditInput.Outcome = .success, method: String = "GET", path: String,
        query: String? = nil, responsePatients: [AuditPatient] = [], decision: AuditDecision? = nil,
        description: String? = nil, location: String? = nil
    ) -> AuditInput {
        AuditInput(
            time: 1_736_935_200.123, outcome: outcome, outcomeDescription: description, subject: .fhir(interaction),
            request: AuditHTTPRequest(method: method, path: path, query: query, host: "gw.example.org"),
            client: Self.client, peerAddress: "203.0.113.7", requestID: "req-1", decision: decision,
            tokenJTI: "7c1e3b0a",
            purposeOfUse: [AuditCoding(system: "http://terminology.hl7.org/CodeSystem/v3-ActReason", code: "TREAT")],
            responsePatients: responsePatients, resultReference: location)
    }

    // MARK: JSON navigation

    func code(_ value: JSONValue?) -> String? {
        value?["coding"]?.arrayValue?.first?["code"]?.stringValue ?? value?["code"]?.stringValue
    }

    func entities(_ event: JSONValue, role: String) -> [JSONValue] {
        (event["entity"]?.arrayValue ?? []).filter { code($0["role"]) == role }
    }

    func agentTypes(_ event: JSONValue) -> [String] {
        (event["agent"]?.arrayValue ?? []).compactMap { code($0["type"]) }
    }

    func decodedQuery(_ entity: JSONValue?) -> String? {
        entity?["query"]?.stringValue.flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) }
    }

    func text(_ event: JSONValue) -> String { event.serializedString() }

    // MARK: Tests

    @Test("a patient read is BALP PatientRead: rest/read, action R, client 110152, server 110153, data + patient")
    func patientRead() throws {
        var read = Interaction(kind: .read, method: "GET", resourceType: "MedicationDispense", id: "md-9")
        read.patients = ["pat-1"]
        let event = builder.build(input(read, path: "/fhir/MedicationDispense/md-9"))

        #expect(event["resourceType"]?.stringValue == "AuditEvent")
        #expect(event["type"]?["system"]?.stringValue == "http://terminology.hl7.org/CodeSystem/audit-event-type")
        #expect(code(event["type"]) == "rest")
        #expect(code(event["subtype"]?.arrayValue?.first) == "read")
        #expect(event["action"]?.stringValue == "R")
        #expect(event["outcome"]?.stringValue == "0")
        #expect(event["recorded"]?.stringValue == "2025-01-15T10:00:00.123Z")
        let profiles = event["meta"]?["profile"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(profiles.contains("https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.PatientRead"))
        #expect(profiles.contains { $0.hasSuffix("OAUTHaccessTokenUse.Minimal") })

        #expect(agentTypes(event) == ["110152", "110153", "UserOauthAgent"])
        let clientAgent = try #require(event["agent"]?.arrayValue?.first)
        #expect(clientAgent["who"]?["identifier"]?["value"]?.stringValue == "pdmp-client-42")
        #expect(clientAgent["requestor"] == .bool(true))
        #expect(clientAgent["network"]?["address"]?.stringValue == "203.0.113.7")
        #expect(clientAgent["network"]?["type"]?.stringValue == "2")
        let server = try #require(event["agent"]?.arrayValue?[1])
        #expect(server["requestor"] == .bool(false))
        #expect(server["network"]?["type"]?.stringValue == "5")
        let oauth = try #require(event["agent"]?.arrayValue?[2])
        #expect(oauth["policy"]?.arrayValue?.first?.stringValue == "urn:ietf:params:oauth:jti:7c1e3b0a")
        #expect(oauth["who"]?["identifier"]?["system"]?.stringValue == "https://gw.example.org")

        #expect(event["source"]?["observer"]?["identifier"]?["value"]?.stringValue == "gw-1")
        #expect(event["source"]?["site"]?.stringValue == "gw.example.org")
        let data = entities(event, role: "4")
        #expect(data.count == 1)
        #expect(data.first?["what"]?["reference"]?.stringValue == "MedicationDispense/md-9")
        #expect(code(data.first?["type"]) == "2")
        let patients = entities(event, role: "1")
        #expect(patients.map { $0["what"]?["reference"]?.stringValue } == ["Patient/pat-1"])
        #expect(patients.allSatisfy { code($0["type"]) == "1" })
        let transaction = event["entity"]?.arrayValue?.first { code($0["type"]) == "XrequestId" }
        #expect(transaction?["what"]?["identifier"]?["value"]?.stringValue == "req-1")
        #expect(code(event["purposeOfEvent"]?.arrayValue?.first) == "TREAT")
    }

    @Test("a vread references the version")
    func vread() {
        let vread = Interaction(kind: .vread, method: "GET", resourceType: "Patient", id: "p1", versionId: "3")
        let event = builder.build(input(vread, path: "/fhir/Patient/p1/_history/3"))
        #expect(code(event["subtype"]?.arrayValue?.first) == "vread")
        #expect(entities(event, role: "4").first?["what"]?["reference"]?.stringValue == "Patient/p1/_history/3")
    }

    @Test("a search is BALP Query: action E, client 110153, base64 query entity, one entity per patient")
    func search() throws {
        var search = Interaction(kind: .searchType, method: "GET", resourceType: "MedicationDispense")
        search.patients = ["pat-1"]
        let event = builder.build(
            input(
                search, path: "/fhir/MedicationDispense", query: "patient=Patient/pat-1&_count=50",
                responsePatients: [.id("pat-1"), .id("pat-2"), .id("pat-2")]))

        #expect(code(event["subtype"]?.arrayValue?.first) == "search-type")
        #expect(event["action"]?.stringValue == "E")
        #expect(agentTypes(event).prefix(2) == ["110153", "110152"])
        let query = try #require(entities(event, role: "24").first)
        #expect(code(query["type"]) == "2")
        #expect(query["what"] == nil)
        #expect(query["description"]?.stringValue == "GET /fhir/MedicationDispense?patient=Patient/pat-1&_count=50")
        #expect(
            decodedQuery(query)
                == "GET /fhir/MedicationDispense?patient=Patient/pat-1&_count=50 HTTP/1.1\r\nHost: gw.example.org\r\n"
                + "X-Request-Id: req-1\r\n")
        let patients = entities(event, role: "1").compactMap { $0["what"]?["reference"]?.stringValue }
        #expect(patients == ["Patient/pat-1", "Patient/pat-2"])
        let profiles = event["meta"]?["profile"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(profiles.first == "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.Query")
    }

    struct WriteCase: Sendable, CustomStringConvertible {
        var kind: InteractionKind
        var method: String
        var subtype: String
        var action: String
        var clientType: String
        var serverType: String
        var description: String { kind.rawValue }
    }

    @Test(
        "create, update, patch and delete have the BALP subtype, action and agent types",
        arguments: [
            WriteCase(
                kind: .create, method: "POST", subtype: "create", action: "C", clientType: "110153",
                serverType: "110152"),
            WriteCase(
                kind: .update, method: "PUT", subtype: "update", action: "U", clientType: "110153", serverType: "110152"
            ),
            WriteCase(
                kind: .patch, method: "PATCH", subtype: "patch", action: "U", clientType: "110153", serverType: "110152"
            ),
            WriteCase(
                kind: .delete, method: "DELETE", subtype: "delete", action: "D", clientType: "110150",
                serverType: "custodian"),
        ])
    func writes(_ c: WriteCase) {
        let id = c.kind == .create ? nil : "md-1"
        var interaction = Interaction(kind: c.kind, method: c.method, resourceType: "MedicationDispense", id: id)
        interaction.patients = ["pat-1"]
        let location = c.kind == .create ? "MedicationDispense/new-1/_history/1" : nil
        let event = builder.build(
            input(interaction, method: c.method, path: "/fhir/MedicationDispense", location: location))
        #expect(code(event["subtype"]?.arrayValue?.first) == c.subtype)
        #expect(event["action"]?.stringValue == c.action)
        #expect(agentTypes(event).prefix(2) == [c.clientType, c.serverType])
        let expected = c.kind == .create ? "MedicationDispense/new-1/_history/1" : "MedicationDispense/md-1"
        #expect(entities(event, role: "4").first?["what"]?["reference"]?.stringValue == expected)
        #expect(entities(event, role: "1").count == 1)
    }

    func pdmpHistory() -> Interaction {
        var interaction = Interaction(
            kind: .operation, method: "POST", operation: "pdmp-history", operationLevel: .system)
        interaction.pdmpHistory = PDMPHistoryRequest(
            patientFamily: "Zzyzxfamily", patientGiven: ["Quixotegiven"], patientBirthDate: "1971-02-03",
            patientIdentifiers: ["http://hl7.org/fhir/sid/us-ssn|123-45-6789", "urn:state:dl|D1234567"],
            authorizedPractitioner: .init(
                identifiers: ["http://hl7.org/fhir/sid/us-dea|AB1234563", "http://hl7.org/fhir/sid/us-npi|1234567893"],
                npi: "1234567893", name: "Dr Practitionername"),
            practitionerRole: "physician")
        return interaction
    }

    @Test("$pdmp-history records the operation URI, the practitioner by NPI and response patients, no demographics")
    func pdmpHistoryEvent() throws {
        let event = builder.build(
            input(
                pdmpHistory(), method: "POST", path: "/fhir/$pdmp-history",
                responsePatients: [.id("pdmp-p-1"), .identifier(system: "urn:pdmp:id", value: "X-77")]))

        let subtypes = event["subtype"]?.arrayValue ?? []
        #expect(
            subtypes.compactMap { code($0) } == [
                "operation", "http://hl7.org/fhir/us/pdmp/OperationDefinition/pdmp-history",
            ])
        #expect(subtypes.last?["system"]?.stringValue == "urn:ietf:rfc:3986")
        #expect(event["action"]?.stringValue == "E")
        let practitioner = try #require(event["agent"]?.arrayValue?.first { code($0["type"]) == "IRCP" })
        #expect(practitioner["who"]?["identifier"]?["system"]?.stringValue == "http://hl7.org/fhir/sid/us-npi")
        #expect(practitioner["who"]?["identifier"]?["value"]?.stringValue == "1234567893")
        #expect(practitioner["requestor"] == .bool(true))
        #expect(
            decodedQuery(entities(event, role: "24").first) == "POST /fhir/$pdmp-history HTTP/1.1\r\n"
                + "Host: gw.example.org\r\nX-Request-Id: req-1\r\n")

        // Patients: the hashed request identifier (never the SSN), then the response's.
        let patients = entities(event, role: "1").map { $0["what"]! }
        #expect(patients.count == 3)
        #expect(patients[0]["identifier"]?["system"]?.stringValue == "urn:state:dl")
        let expectedDL =
            "hmac-sha256:k1:" + Digest.hex(HMAC.sha256(key: Self.key, message: Array("urn:state:dl|D1234567".utf8)))
        #expect(patients[0]["identifier"]?["value"]?.stringValue == expectedDL)
        #expect(patients[1]["reference"]?.stringValue == "Patient/pdmp-p-1")
        #expect(patients[2]["identifier"]?["value"]?.stringValue?.hasPrefix("hmac-sha256:k1:") == true)

        let all = text(event)
        for secret in [
            "Zzyzxfamily", "Quixotegiven", "1971-02-03", "123-45-6789", "us-ssn", "D1234567", "X-77",
            "Practitionername", "AB1234563",
        ] {
            #expect(!all.contains(secret), "\(secret) leaked into the audit event")
        }
    }

    @Test("a denial is a Security Alert with outcome 4, the status and reason, and the deciding rule")
    func denial() throws {
        var search = Interaction(kind: .searchType, method: "GET", resourceType: "MedicationDispense")
        search.patients = ["pat-1"]
        let event = builder.build(
            input(
                search, outcome: .denied(status: 403), path: "/fhir/MedicationDispense", query: "patient=pat-1",
                decision: AuditDecision(permitted: false, rule: "only-own-patients", reason: "patient not in panel"),
                description: "insufficient_scope: requires system/MedicationDispense.s"))

        #expect(event["type"]?["system"]?.stringValue == "http://dicom.nema.org/resources/ontology/DCM")
        #expect(code(event["type"]) == "110113")
        #expect((event["subtype"]?.arrayValue ?? []).compactMap { code($0) } == ["AuthZ-Role", "search-type"])
        #expect(event["outcome"]?.stringValue == "4")
        #expect(event["outcomeDesc"]?.stringValue == "403 insufficient_scope: requires system/MedicationDispense.s")
        #expect(event["meta"] == nil)
        #expect(agentTypes(event) == ["110150", "authserver"])
        #expect(code(event["source"]?["type"]?.arrayValue?.first) == "6")
        let rule = try #require(entities(event, role: "13").first)
        #expect(rule["what"]?["identifier"]?["value"]?.stringValue == "only-own-patients")
        let details = (rule["detail"]?.arrayValue ?? []).map {
            ($0["type"]!.stringValue!, $0["valueString"]!.stringValue!)
        }
        #expect(details.map(\.0) == ["decision", "reason"])
        #expect(details.map(\.1) == ["deny", "patient not in panel"])
        #expect(entities(event, role: "24").count == 1)
        #expect(entities(event, role: "1").count == 1)
        let token = event["entity"]?.arrayValue?.first { code($0["type"]) == "UserOauthAgent" }
        #expect(token?["what"]?["identifier"]?["value"]?.stringValue == "urn:ietf:params:oauth:jti:7c1e3b0a")
    }

    @Test("an allowed request that failed upstream keeps the REST shape with outcome 8 and claims no profile")
    func upstreamFailure() {
        let read = Interaction(kind: .read, method: "GET", resourceType: "Patient", id: "p1")
        let event = builder.build(
            input(read, outcome: .failure(status: 502), path: "/fhir/Patient/p1", description: "upstream unreachable"))
        #expect(code(event["type"]) == "rest")
        #expect(event["outcome"]?.stringValue == "8")
        #expect(event["outcomeDesc"]?.stringValue == "502 upstream unreachable")
        #expect(event["meta"] == nil)
    }

    func tokenInput(_ outcome: AuditInput.Outcome, _ token: AuditTokenRequest, description: String? = nil) -> AuditInput
    {
        AuditInput(
            time: 1_736_935_199, outcome: outcome, outcomeDescription: description, subject: .tokenRequest(token),
            request: AuditHTTPRequest(method: "POST", path: "/auth/token", host: "gw.example.org"),
            client: AuditClient(id: "pdmp-client-42"), peerAddress: "203.0.113.7")
    }

    @Test("token issuance is IUA ITI-71: 110114, request without the assertion, response with jti and scope")
    func tokenIssued() throws {
        let token = AuditTokenRequest(
            grantType: "client_credentials", requestedScope: "system/MedicationDispense.rs",
            clientAssertionType: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", assertionJTI: "a-1",
            grantedScope: "system/MedicationDispense.rs", issuedTokenJTI: "t-9", expiresIn: 300)
        let event = builder.build(tokenInput(.success, token))

        #expect(code(event["type"]) == "110114")
        #expect(code(event["subtype"]?.arrayValue?.first) == "ITI-71")
        #expect(event["subtype"]?.arrayValue?.first?["system"]?.stringValue == "urn:ihe:event-type-code")
        #expect(event["action"]?.stringValue == "E")
        #expect(event["outcome"]?.stringValue == "0")
        #expect(agentTypes(event) == ["110150", "AuthzOauthService"])
        #expect(
            event["agent"]?.arrayValue?[1]["network"]?["address"]?.stringValue == "https://gw.example.org/auth/token")
        let request = try #require(decodedQuery(entities(event, role: "24").first))
        #expect(request.hasPrefix("POST /auth/token HTTP/1.1\r\nHost: gw.example.org\r\n"))
        #expect(
            request.hasSuffix(
                "\r\n\r\ngrant_type=client_credentials&scope=system%2FMedicationDispense.rs&client_assertion_type="
                    + "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=[REDACTED]"))
        let response = try #require(entities(event, role: "13").first)
        #expect(response["what"]?["identifier"]?["value"]?.stringValue == "urn:ietf:params:oauth:jti:t-9")
        let details = (response["detail"]?.arrayValue ?? []).compactMap { $0["type"]?.stringValue }
        #expect(details == ["scope", "expires_in", "client_assertion.jti"])
    }

    @Test("a refused token request has outcome 4, the error, and no token-response entity")
    func tokenRefused() throws {
        let token = AuditTokenRequest(
            grantType: "client_credentials", requestedScope: "system/*.rs", assertionJTI: "a-1")
        let event = builder.build(tokenInput(.denied(status: 400), token, description: "invalid_client: jti replay"))
        #expect(code(event["type"]) == "110114")
        #expect(event["outcome"]?.stringValue == "4")
        #expect(event["outcomeDesc"]?.stringValue == "400 invalid_client: jti replay")
        #expect(entities(event, role: "13").isEmpty)
        let request = try #require(entities(event, role: "24").first)
        #expect(request["detail"]?.arrayValue?.first?["valueString"]?.stringValue == "urn:ietf:params:oauth:jti:a-1")
    }

    @Test("an SSN in a search query string is redacted")
    func ssnInQuery() throws {
        let search = Interaction(kind: .searchType, method: "GET", resourceType: "Patient")
        let event = builder.build(
            input(
                search, path: "/fhir/Patient",
                query: "identifier=http%3A%2F%2Fhl7.org%2Ffhir%2Fsid%2Fus-ssn%7C123456789&_count=5"))
        let query = try #require(decodedQuery(entities(event, role: "24").first))
        #expect(query.hasPrefix("GET /fhir/Patient?identifier=[REDACTED]&_count=5 HTTP/1.1"))
        #expect(!text(event).contains("123456789"))
    }

    @Test(
        "credentials, identifiers and SSN-like values never reach the query entity in clear",
        arguments: [
            // (query sent, what must not appear, what the kept query starts with)
            ("patient=p1&access_token=eyJhbGciOiJFUzM4NCJ9.e30.sig", "eyJhbGci", "patient=p1&access_token=[REDACTED]"),
            ("ACCESS_TOKEN=abc.def.ghi&_count=1", "abc.def", "ACCESS_TOKEN=[REDACTED]&_count=1"),
            ("identifier=966780235", "966780235", "identifier=hmac-sha256:k1:"),
            ("patient.identifier=966780235", "966780235", "patient.identifier=hmac-sha256:k1:"),
            ("subject:Patient.identifier=urn:oid:2.16.840.1.113883.4.1%7C966780235", "966780235",
             "subject:Patient.identifier=[REDACTED]"),
            ("_has:MedicationDispense:patient:identifier=x%7C966780235", "966780235",
             "_has:MedicationDispense:patient:identifier=x|hmac-sha256:k1:"),
            ("name=966-78-0235", "966-78-0235", "name=[REDACTED]"),
            ("patient=966780235", "966780235", "patient=[REDACTED]"),
            ("identifier=a%7C1,http://hl7.org/fhir/sid/us-ssn%7C966780235", "966780235",
             "identifier=a|hmac-sha256:k1:"),
        ])
    func queryRedaction(sent: String, secret: String, kept: String) throws {
        let search = Interaction(kind: .searchType, method: "GET", resourceType: "Patient")
        let event = builder.build(input(search, path: "/fhir/Patient", query: sent))
        let query = try #require(decodedQuery(entities(event, role: "24").first))
        #expect(query.hasPrefix("GET /fhir/Patient?" + kept), "\(query)")
        #expect(!text(event).contains(secret))
    }

    @Test("what carries neither a credential nor an identifier is kept as sent; NPIs stay in clear")
    func queryKept() throws {
        let search = Interaction(kind: .searchType, method: "GET", resourceType: "MedicationDispense")
        let sent = "patient=pat-00001&whenhandedover=ge2026-01-01&_count=50"
            + "&performer.identifier=http://hl7.org/fhir/sid/us-npi%7C1234567893"
        let event = builder.build(input(search, path: "/fhir/MedicationDispense", query: sent))
        let query = try #require(decodedQuery(entities(event, role: "24").first))
        #expect(query.hasPrefix("GET /fhir/MedicationDispense?" + sent + " HTTP/1.1"))
    }

    @Test("an unauthenticated request still names the peer and says who is unknown")
    func unauthenticated() {
        let read = Interaction(kind: .read, method: "GET", resourceType: "Patient", id: "p1")
        var value = input(read, outcome: .denied(status: 401), path: "/fhir/Patient/p1", description: "invalid_token")
        value.client = nil
        value.tokenJTI = nil
        let event = builder.build(value)
        let client = event["agent"]?.arrayValue?.first
        #expect(client?["who"]?["display"]?.stringValue == "unauthenticated")
        #expect(client?["network"]?["address"]?.stringValue == "203.0.113.7")
        #expect(event["outcomeDesc"]?.stringValue == "401 invalid_token")
    }
}
