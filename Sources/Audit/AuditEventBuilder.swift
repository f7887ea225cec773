// Builds FHIR R4 AuditEvents in the IHE BALP shapes of SPEC-DIGEST §5.3: RESTful read/query/create/update/
// delete, operations ($pdmp-history), token issuance and refusal, and denials. The shapes themselves are in
// AuditEventBuilder+Shapes.swift; this file holds the configuration and the pieces every shape shares.

import FHIR
import Foundation
public import GatewayCore
import GatewayCrypto

/// Turns an `AuditInput` into a FHIR R4 AuditEvent (`JSONValue`), minimising PHI on the way.
///
/// PHI rules (issue #7): `$pdmp-history` demographics are never written; identifiers are written as a
/// keyed hash (`hmac-sha256:<keyID>:<hex>` of `system|value`) unless their system is listed in
/// ``Configuration/clearIdentifierSystems``; SSN identifiers are never written, not even hashed.
public struct AuditEventBuilder: Sendable {
    /// Deployment facts the events need.
    public struct Configuration: Sendable {
        /// This gateway instance (the `source.observer` and the server agent), written as an identifier-only
        /// `Reference(Device)` so that the audit repository needs no Device resource.
        public var instanceID: String
        /// The identifier system of ``instanceID``.
        public var instanceSystem: String
        /// `source.site`, e.g. the public host name; nil to omit.
        public var site: String?
        /// The public FHIR base URL (the server agent's network address, type 5 URI).
        public var fhirBaseURL: String
        /// The public token endpoint URL (the authorization server agent's network address).
        public var tokenEndpointURL: String
        /// The identifier system written with client ids.
        public var clientIDSystem: String
        /// The HMAC-SHA256 key for identifier hashes. Keep it secret and stable: auditors recompute the hash
        /// of a known identifier with it to find that patient's events. An empty key still hashes, but then
        /// anyone can test guesses, so deployments must configure one.
        public var identifierHashKey: [UInt8]
        /// A name for the key, written into every hash so that keys can be rotated.
        public var identifierHashKeyID: String
        /// Identifier systems written in clear (practitioner NPIs are public; default: the NPI system).
        public var clearIdentifierSystems: Set<String>

        /// Creates a configuration; only the instance, URLs and key have no default.
        public init(
            instanceID: String, instanceSystem: String = "urn:pdmp-gateway:instance", site: String? = nil,
            fhirBaseURL: String, tokenEndpointURL: String, clientIDSystem: String = "urn:pdmp-gateway:client-id",
            identifierHashKey: [UInt8], identifierHashKeyID: String = "k1",
            clearIdentifierSystems: Set<String> = ["http://hl7.org/fhir/sid/us-npi"]
        ) {
            self.instanceID = instanceID
            self.instanceSystem = instanceSystem
            self.site = site
            self.fhirBaseURL = fhirBaseURL
            self.tokenEndpointURL = tokenEndpointURL
            self.clientIDSystem = clientIDSystem
            self.identifierHashKey = identifierHashKey
            self.identifierHashKeyID = identifierHashKeyID
            self.clearIdentifierSystems = clearIdentifierSystems
        }
    }

    /// The deployment facts the events are built with.
    public let configuration: Configuration

    /// Creates a builder for `configuration`.
    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    /// Returns the AuditEvent for `input`.
    ///
    /// Token requests get the IUA ITI-71 shape, introspection requests ITI-102; FHIR requests refused by the
    /// gateway get the Security Alert
    /// shape (SPEC-DIGEST §5.3 d); every other FHIR request gets the BALP RESTful shape of its interaction.
    public func build(_ input: AuditInput) -> JSONValue {
        switch input.subject {
        case .tokenRequest(let token):
            return tokenEvent(input, token).render()
        case .introspection(let introspection):
            return introspectionEvent(input, introspection).render()
        case .fhir(let interaction):
            if case .denied = input.outcome { return denialEvent(input, interaction).render() }
            return restEvent(input, interaction).render()
        }
    }

    // MARK: - Pieces shared by the shapes

    /// The gateway as a `Reference(Device)` by identifier.
    var deviceReference: JSONValue {
        .obj([
            ("type", .str("Device")),
            (
                "identifier",
                .obj([("system", .str(configuration.instanceSystem)), ("value", .str(configuration.instanceID))])
            ),
        ])
    }

    func source(type code: String) -> JSONValue {
        var members: [(String, JSONValue)] = []
        if let site = configuration.site { members.append(("site", .str(site))) }
        members.append(("observer", deviceReference))
        members.append(("type", .array([.coding(CodeSystem.sourceType, code)])))
        return .obj(members)
    }

    /// The client agent: identified by `client_id`, with the real peer address (BALP: "as known by TCP").
    func clientAgent(_ input: AuditInput, type: JSONValue) -> JSONValue {
        var members: [(String, JSONValue)] = [("type", type)]
        if let client = input.client {
            members.append(("who", .obj([("identifier", identifier(configuration.clientIDSystem, client.id))])))
            if let name = client.name { members.append(("name", .str(name))) }
        } else {
            members.append(("who", .obj([("display", .str("unauthenticated"))])))
        }
        members.append(("requestor", .bool(true)))
        members.append(("network", .obj([("address", .str(input.peerAddress)), ("type", .str("2"))])))
        return .obj(members)
    }

    /// The gateway as the server (or authorization server) agent.
    func serverAgent(type: JSONValue, address: String?) -> JSONValue {
        var members: [(String, JSONValue)] = [("type", type), ("who", deviceReference), ("requestor", .bool(false))]
        if let address { members.append(("network", .obj([("address", .str(address)), ("type", .str("5"))]))) }
        return .obj(members)
    }

    /// The OAuth token user (BALP OAUTHaccessTokenUse.Minimal): the token's `jti` in `policy`.
    func oauthAgent(_ input: AuditInput) -> JSONValue? {
        guard let jti = input.tokenJTI else { return nil }
        var who: [(String, JSONValue)] = []
        if let client = input.client {
            var id: [(String, JSONValue)] = []
            if let issuer = client.issuer { id.append(("system", .str(issuer))) }
            id.append(("value", .str(client.id)))
            who.append(("identifier", .obj(id)))
        }
        var members: [(String, JSONValue)] = [
            ("type", .concept(CodeSystem.balpAgentType, "UserOauthAgent")),
            ("who", .obj(who)), ("requestor", .bool(true)), ("policy", .array([.str(jtiPrefix + jti)])),
        ]
        if !input.purposeOfUse.isEmpty { members.append(("purposeOfUse", purposes(input))) }
        return .obj(members)
    }

    /// The authorized practitioner of a `$pdmp-history` request (PDMP IG §4.2), by identifier only.
    // TODO(#7): the delegate practitioner (`delegate-practitioner`) is not recorded yet.
    func practitionerAgent(_ input: AuditInput, _ interaction: Interaction) -> JSONValue? {
        guard let history = interaction.pdmpHistory, let practitioner = history.authorizedPractitioner else {
            return nil
        }
        let parsed = practitioner.identifiers.compactMap(splitIdentifier)
        let preferred = parsed.first { configuration.clearIdentifierSystems.contains($0.system) } ?? parsed.first
        var members: [(String, JSONValue)] = [("type", .concept(CodeSystem.participationType, "IRCP"))]
        if let preferred, let written = writtenIdentifier(preferred.system, preferred.value) {
            members.append(("who", .obj([("type", .str("Practitioner")), ("identifier", written)])))
        } else {
            members.append(("who", .obj([("display", .str("authorized-practitioner"))])))
        }
        members.append(("requestor", .bool(true)))
        if let role = history.practitionerRole { members.append(("role", .array([.obj([("text", .str(role))])]))) }
        if !input.purposeOfUse.isEmpty { members.append(("purposeOfUse", purposes(input))) }
        return .obj(members)
    }

    func purposes(_ input: AuditInput) -> JSONValue {
        .array(input.purposeOfUse.map { .concept($0.system, $0.code) })
    }

    /// One patient entity per distinct patient: the request's, then the response's (BALP: record the
    /// patient however it became known).
    func patientEntities(_ input: AuditInput, _ interaction: Interaction?) -> [JSONValue] {
        var patients: [AuditPatient] = []
        if let interaction {
            patients += requestPatients(interaction)
        }
        patients += input.responsePatients
        var seen = Set<AuditPatient>()
        return patients.filter { seen.insert($0).inserted }.compactMap(patientEntity)
    }

    func requestPatients(_ interaction: Interaction) -> [AuditPatient] {
        var ids = interaction.patients
        for child in interaction.entries { ids.formUnion(child.patients) }
        var patients = ids.sorted().map(AuditPatient.id)
        // $pdmp-history names the patient by demographics; only its identifiers (hashed) are kept.
        if let history = interaction.pdmpHistory {
            patients += history.patientIdentifiers.compactMap(splitIdentifier).map {
                AuditPatient.identifier(system: $0.system, value: $0.value)
            }
        }
        return patients
    }

    func patientEntity(_ patient: AuditPatient) -> JSONValue? {
        let what: JSONValue
        switch patient {
        case .id(let id):
            what = .obj([("reference", .str("Patient/" + id))])
        case .identifier(let system, let value):
            guard let written = writtenIdentifier(system, value) else { return nil }
            what = .obj([("type", .str("Patient")), ("identifier", written)])
        }
        return .obj([
            ("what", what), ("type", .coding(CodeSystem.entityType, "1")),
            ("role", .coding(CodeSystem.objectRole, "1")),
        ])
    }

    /// The BALP `transaction` entity carrying the X-Request-ID.
    func transactionEntity(_ input: AuditInput) -> JSONValue? {
        guard let requestID = input.requestID else { return nil }
        return .obj([
            ("what", .obj([("identifier", .obj([("value", .str(requestID))]))])),
            ("type", .coding(CodeSystem.balpEntityType, "XrequestId")),
        ])
    }

    /// The deciding policy rule and its reason (object-role 13 Security Resource).
    func policyEntity(_ input: AuditInput) -> JSONValue? {
        guard let decision = input.decision else { return nil }
        var details: [JSONValue] = [detail("decision", decision.permitted ? "permit" : "deny")]
        if let reason = decision.reason { details.append(detail("reason", reason)) }
        // Shadow-mode rules are recorded, never enforced (issue #6 item 4): auditors see the would-be decision.
        if let shadow = decision.shadowPermitted {
            details.append(detail("shadow-decision", shadow ? "permit" : "deny"))
            details += decision.shadowRules.map { detail("shadow-rule", $0) }
        }
        return .obj([
            ("what", .obj([("identifier", identifier(CodeSystem.policyRule, decision.rule ?? "default-deny"))])),
            ("type", .coding(CodeSystem.entityType, "2")), ("role", .coding(CodeSystem.objectRole, "13")),
            ("detail", .array(details)),
        ])
    }

    /// The BALP `query` entity: the request line and Host / X-Request-Id headers, base64 (never a body).
    func queryEntity(_ input: AuditInput, body: String? = nil, details: [JSONValue] = []) -> JSONValue {
        let target = requestTarget(input.request)
        var raw = "\(input.request.method) \(target) HTTP/1.1\r\n"
        if let host = input.request.host { raw += "Host: \(host)\r\n" }
        if let requestID = input.requestID { raw += "X-Request-Id: \(requestID)\r\n" }
        if let body { raw += "Content-Type: application/x-www-form-urlencoded\r\n\r\n" + body }
        var members: [(String, JSONValue)] = [
            ("type", .coding(CodeSystem.entityType, "2")), ("role", .coding(CodeSystem.objectRole, "24")),
            ("description", .str("\(input.request.method) \(target)")),
            ("query", .str(Data(raw.utf8).base64EncodedString())),
        ]
        if !details.isEmpty { members.append(("detail", .array(details))) }
        return .obj(members)
    }

    func requestTarget(_ request: AuditHTTPRequest) -> String {
        guard let query = request.query else { return request.path }
        return request.path + "?" + redactedQuery(query)
    }

    func detail(_ type: String, _ value: String) -> JSONValue {
        .obj([("type", .str(type)), ("valueString", .str(value))])
    }

    func identifier(_ system: String?, _ value: String) -> JSONValue {
        var members: [(String, JSONValue)] = []
        if let system { members.append(("system", .str(system))) }
        members.append(("value", .str(value)))
        return .obj(members)
    }

    /// An identifier as written to the audit: in clear for configured systems, otherwise keyed-hashed;
    /// nil for SSNs, which are never written.
    func writtenIdentifier(_ system: String, _ value: String) -> JSONValue? {
        if forbiddenIdentifierSystems.contains(system) { return nil }
        let writtenSystem = system.isEmpty ? nil : system
        if configuration.clearIdentifierSystems.contains(system) { return identifier(writtenSystem, value) }
        return identifier(writtenSystem, hashedIdentifier(system: system, value: value))
    }

    /// `hmac-sha256:<keyID>:<hex>` of `system|value` under the configured key.
    public func hashedIdentifier(system: String, value: String) -> String {
        let mac = HMAC.sha256(key: configuration.identifierHashKey, message: Array("\(system)|\(value)".utf8))
        return "hmac-sha256:\(configuration.identifierHashKeyID):" + Digest.hex(mac)
    }

    /// Splits `system|value`; a bare value gets an empty system.
    func splitIdentifier(_ token: String) -> (system: String, value: String)? {
        guard let bar = token.firstIndex(of: "|") else { return token.isEmpty ? nil : ("", token) }
        let value = String(token[token.index(after: bar)...])
        return value.isEmpty ? nil : (String(token[..<bar]), value)
    }

    /// AuditEvent.outcome (FHIR R4): 0 success, 4 minor failure ("catered for", e.g. 4xx), 8 serious (5xx).
    func outcomeCode(_ outcome: AuditInput.Outcome) -> String {
        switch outcome {
        case .success: return "0"
        case .denied: return "4"
        case .failure(let status): return status >= 500 ? "8" : "4"
        }
    }

    /// `outcomeDesc`: the status and the safe description, e.g. `403 insufficient_scope: ...`.
    func outcomeDescription(_ input: AuditInput) -> String? {
        switch input.outcome {
        case .success: return input.outcomeDescription
        case .denied(let status), .failure(let status):
            let text = input.outcomeDescription ?? input.decision?.reason
            return text.map { "\(status) \($0)" } ?? String(status)
        }
    }
}

/// An AuditEvent under construction; `render()` writes the members in the FHIR element order.
struct AuditEventDraft {
    var profiles: [String] = []
    var type: JSONValue
    var subtype: [JSONValue] = []
    var action: String
    var recorded: String
    var outcome: String
    var outcomeDesc: String?
    var purposeOfEvent: JSONValue?
    var agents: [JSONValue] = []
    var source: JSONValue
    var entities: [JSONValue] = []

    func render() -> JSONValue {
        var members: [(String, JSONValue)] = [("resourceType", .str("AuditEvent"))]
        if !profiles.isEmpty { members.append(("meta", .obj([("profile", .array(profiles.map(JSONValue.str)))]))) }
        members.append(("type", type))
        if !subtype.isEmpty { members.append(("subtype", .array(subtype))) }
        members.append(("action", .str(action)))
        members.append(("recorded", .str(recorded)))
        members.append(("outcome", .str(outcome)))
        if let outcomeDesc { members.append(("outcomeDesc", .str(outcomeDesc))) }
        if let purposeOfEvent { members.append(("purposeOfEvent", purposeOfEvent)) }
        members.append(("agent", .array(agents)))
        members.append(("source", source))
        if !entities.isEmpty { members.append(("entity", .array(entities))) }
        return .obj(members)
    }
}
