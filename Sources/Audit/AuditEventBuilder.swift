// Builds FHIR R4 AuditEvents in the IHE BALP shapes of SPEC-DIGEST §5.3: RESTful read/query/create/update/
// delete, operations ($pdmp-history), token issuance and refusal, and denials. The shapes themselves are in
// AuditEventBuilder+Shapes.swift; this file holds the configuration and the pieces every shape shares.

import FHIR
import Foundation
public import GatewayCore
import GatewayCrypto

/// Turns an `AuditInput` into a FHIR R4 AuditEvent, minimising PHI on the way: as canonical bytes for the
/// chain (``canonicalEvent(_:)``) or as a `JSONValue` (``build(_:)``), both from one description.
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

    /// Returns the AuditEvent for `input` as a tree (tests, tools, the in-memory sink); members in canonical
    /// order.
    public func build(_ input: AuditInput) -> JSONValue {
        var out = JSONTreeOutput()
        draft(input).write(to: &out)
        return out.value
    }

    /// Returns the canonical JSON bytes (CanonicalJSON's form) of the AuditEvent for `input`, written
    /// directly without a tree: what the file sink chains and hashes (the request hot path).
    public func canonicalEvent(_ input: AuditInput) -> [UInt8] {
        var out = CanonicalBytesOutput()
        draft(input).write(to: &out)
        return out.bytes
    }

    /// Describes the AuditEvent for `input`.
    ///
    /// Token requests get the IUA ITI-71 shape, introspection requests ITI-102; FHIR requests refused by the
    /// gateway get the Security Alert
    /// shape (SPEC-DIGEST §5.3 d); every other FHIR request gets the BALP RESTful shape of its interaction.
    func draft(_ input: AuditInput) -> AuditEventDraft {
        switch input.subject {
        case .tokenRequest(let token):
            return tokenEvent(input, token)
        case .introspection(let introspection):
            return introspectionEvent(input, introspection)
        case .fhir(let interaction):
            if case .denied = input.outcome { return denialEvent(input, interaction) }
            return restEvent(input, interaction)
        }
    }

    // MARK: - Pieces shared by the shapes

    /// The gateway as a `Reference(Device)` by identifier.
    var deviceReference: DraftReference {
        DraftReference(
            identifier: DraftIdentifier(system: configuration.instanceSystem, value: configuration.instanceID),
            type: "Device")
    }

    func source(type code: String) -> DraftSource {
        DraftSource(site: configuration.site, observer: deviceReference, type: DraftCode(CodeSystem.sourceType, code))
    }

    /// The client agent: identified by `client_id`, with the real peer address (BALP: "as known by TCP").
    func clientAgent(_ input: AuditInput, type: DraftCode) -> DraftAgent {
        var agent = DraftAgent(
            type: type, who: DraftReference(display: "unauthenticated"), requestor: true,
            network: (address: input.peerAddress, type: "2"))
        if let client = input.client {
            agent.who = DraftReference(
                identifier: DraftIdentifier(system: configuration.clientIDSystem, value: client.id))
            agent.name = client.name
        }
        return agent
    }

    /// The gateway as the server (or authorization server) agent.
    func serverAgent(type: DraftCode, address: String?) -> DraftAgent {
        DraftAgent(
            type: type, who: deviceReference, requestor: false, network: address.map { (address: $0, type: "5") })
    }

    /// The OAuth token user (BALP OAUTHaccessTokenUse.Minimal): the token's `jti` in `policy`.
    func oauthAgent(_ input: AuditInput) -> DraftAgent? {
        guard let jti = input.tokenJTI else { return nil }
        var who = DraftReference()
        if let client = input.client { who.identifier = DraftIdentifier(system: client.issuer, value: client.id) }
        return DraftAgent(
            type: DraftCode(CodeSystem.balpAgentType, "UserOauthAgent"), who: who, requestor: true,
            policy: [jtiPrefix + jti], purposeOfUse: input.purposeOfUse)
    }

    /// The authorized practitioner of a `$pdmp-history` request (PDMP IG §4.2), by identifier only.
    // TODO(#7): the delegate practitioner (`delegate-practitioner`) is not recorded yet.
    func practitionerAgent(_ input: AuditInput, _ interaction: Interaction) -> DraftAgent? {
        guard let history = interaction.pdmpHistory, let practitioner = history.authorizedPractitioner else {
            return nil
        }
        let parsed = practitioner.identifiers.compactMap(splitIdentifier)
        let preferred = parsed.first { configuration.clearIdentifierSystems.contains($0.system) } ?? parsed.first
        var agent = DraftAgent(
            type: DraftCode(CodeSystem.participationType, "IRCP"),
            who: DraftReference(display: "authorized-practitioner"),
            requestor: true, role: history.practitionerRole, purposeOfUse: input.purposeOfUse)
        if let preferred, let written = writtenIdentifier(preferred.system, preferred.value) {
            agent.who = DraftReference(identifier: written, type: "Practitioner")
        }
        return agent
    }

    /// One patient entity per distinct patient: the request's, then the response's (BALP: record the
    /// patient however it became known).
    func patientEntities(_ input: AuditInput, _ interaction: Interaction?) -> [DraftEntity] {
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

    func patientEntity(_ patient: AuditPatient) -> DraftEntity? {
        let what: DraftReference
        switch patient {
        case .id(let id):
            what = DraftReference(reference: "Patient/" + id)
        case .identifier(let system, let value):
            guard let written = writtenIdentifier(system, value) else { return nil }
            what = DraftReference(identifier: written, type: "Patient")
        }
        return DraftEntity(
            what: what, type: DraftCode(CodeSystem.entityType, "1"), role: DraftCode(CodeSystem.objectRole, "1"))
    }

    /// The BALP `transaction` entity carrying the X-Request-ID.
    func transactionEntity(_ input: AuditInput) -> DraftEntity? {
        guard let requestID = input.requestID else { return nil }
        return DraftEntity(
            what: DraftReference(identifier: DraftIdentifier(value: requestID)),
            type: DraftCode(CodeSystem.balpEntityType, "XrequestId"))
    }

    /// The deciding policy rule and its reason (object-role 13 Security Resource).
    func policyEntity(_ input: AuditInput) -> DraftEntity? {
        guard let decision = input.decision else { return nil }
        var details = [(type: "decision", value: decision.permitted ? "permit" : "deny")]
        if let reason = decision.reason { details.append((type: "reason", value: reason)) }
        // Shadow-mode rules are recorded, never enforced (issue #6 item 4): auditors see the would-be decision.
        if let shadow = decision.shadowPermitted {
            details.append((type: "shadow-decision", value: shadow ? "permit" : "deny"))
            details += decision.shadowRules.map { (type: "shadow-rule", value: $0) }
        }
        return DraftEntity(
            what: DraftReference(
                identifier: DraftIdentifier(system: CodeSystem.policyRule, value: decision.rule ?? "default-deny")),
            type: DraftCode(CodeSystem.entityType, "2"), role: DraftCode(CodeSystem.objectRole, "13"), detail: details)
    }

    /// The BALP `query` entity: the request line and Host / X-Request-Id headers, base64 (never a body).
    func queryEntity(
        _ input: AuditInput, body: String? = nil, details: [(type: String, value: String)] = []
    ) -> DraftEntity {
        let target = requestTarget(input.request)
        var raw = "\(input.request.method) \(target) HTTP/1.1\r\n"
        if let host = input.request.host { raw += "Host: \(host)\r\n" }
        if let requestID = input.requestID { raw += "X-Request-Id: \(requestID)\r\n" }
        if let body { raw += "Content-Type: application/x-www-form-urlencoded\r\n\r\n" + body }
        return DraftEntity(
            type: DraftCode(CodeSystem.entityType, "2"), role: DraftCode(CodeSystem.objectRole, "24"),
            description: "\(input.request.method) \(target)", query: Data(raw.utf8).base64EncodedString(),
            detail: details)
    }

    func requestTarget(_ request: AuditHTTPRequest) -> String {
        guard let query = request.query else { return request.path }
        return request.path + "?" + redactedQuery(query)
    }

    /// An identifier as written to the audit: in clear for configured systems, otherwise keyed-hashed;
    /// nil for SSNs, which are never written.
    func writtenIdentifier(_ system: String, _ value: String) -> DraftIdentifier? {
        if forbiddenIdentifierSystems.contains(system) { return nil }
        let writtenSystem = system.isEmpty ? nil : system
        if configuration.clearIdentifierSystems.contains(system) {
            return DraftIdentifier(system: writtenSystem, value: value)
        }
        return DraftIdentifier(system: writtenSystem, value: hashedIdentifier(system: system, value: value))
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
