// The event shapes of SPEC-DIGEST §5.3: (a)-(c) and (f) RESTful, (d) denial, (e) token issuance/refusal.

import FHIR
import GatewayCore

/// How a FHIR interaction is audited: which BALP pattern, subtype code and action (FHIR R4 auditevent notes).
struct RESTPattern {
    enum Shape { case read, query, create, update, delete, operation, other }

    var shape: Shape
    var subtype: String
    var action: String
    /// The BALP profile id stem (`Read` → `IHE.BasicAudit.Read` / `IHE.BasicAudit.PatientRead`), if any.
    var profile: String?

    init(_ interaction: Interaction) {
        switch interaction.kind {
        case .read, .vread: self.init(.read, interaction.kind.rawValue, "R", "Read")
        case .historyInstance, .historyType, .historySystem:
            // FHIR core maps history to R; BALP has no history profile, so no profile is claimed.
            self.init(.query, interaction.kind.rawValue, "R", nil)
        case .searchType, .searchSystem: self.init(.query, interaction.kind.rawValue, "E", "Query")
        case .searchCompartment:
            let all = interaction.compartmentTargetType == nil || interaction.compartmentTargetType == "*"
            self.init(.query, all ? "search-system" : "search-type", "E", "Query")
        case .create: self.init(.create, "create", "C", "Create")
        case .update, .conditionalUpdate: self.init(.update, "update", "U", "Update")
        case .patch, .conditionalPatch: self.init(.update, "patch", "U", "Update")
        case .delete, .conditionalDelete: self.init(.delete, "delete", "D", "Delete")
        case .operation: self.init(.operation, "operation", "E", nil)
        case .capabilities: self.init(.other, "capabilities", "E", nil)
        case .batch: self.init(.other, "batch", "E", nil)
        case .transaction: self.init(.other, "transaction", "E", nil)
        }
    }

    private init(_ shape: Shape, _ subtype: String, _ action: String, _ profile: String?) {
        self.shape = shape
        self.subtype = subtype
        self.action = action
        self.profile = profile
    }

    /// Agent types: BALP Read has client = Destination (110152) and server = Source (110153); Query, Create
    /// and Update swap them; Delete has client = Application (110150) and server = custodian.
    var clientType: DraftCode {
        switch shape {
        case .read: return DraftCode(CodeSystem.dicom, "110152")
        case .delete: return DraftCode(CodeSystem.dicom, "110150")
        default: return DraftCode(CodeSystem.dicom, "110153")
        }
    }

    var serverType: DraftCode {
        switch shape {
        case .read: return DraftCode(CodeSystem.dicom, "110153")
        case .delete: return DraftCode(CodeSystem.provenanceParticipant, "custodian")
        default: return DraftCode(CodeSystem.dicom, "110152")
        }
    }
}

extension AuditEventBuilder {
    /// RESTful interactions, allowed (success or failure): SPEC-DIGEST §5.3 (a), (b), (c), (f).
    func restEvent(_ input: AuditInput, _ interaction: Interaction) -> AuditEventDraft {
        let pattern = RESTPattern(interaction)
        var draft = AuditEventDraft(
            type: DraftCode(CodeSystem.auditEventType, "rest"), subtype: subtypes(pattern, interaction),
            action: pattern.action, recorded: AuditTime.instant(input.time), outcome: outcomeCode(input.outcome),
            outcomeDesc: outcomeDescription(input), purposeOfEvent: input.purposeOfUse, source: source(type: "4"))
        draft.agents = [clientAgent(input, type: pattern.clientType)]
        draft.agents.append(serverAgent(type: pattern.serverType, address: configuration.fhirBaseURL))
        if let oauth = oauthAgent(input) { draft.agents.append(oauth) }
        if let practitioner = practitionerAgent(input, interaction) { draft.agents.append(practitioner) }

        draft.entities = subjectEntities(input, interaction, pattern)
        let patients = patientEntities(input, interaction)
        draft.entities += patients
        draft.entities += [policyEntity(input), transactionEntity(input)].compactMap { $0 }
        draft.profiles = profiles(pattern, input, patientCount: patients.count)
        return draft
    }

    /// Requests the gateway refused (SPEC-DIGEST §5.3 d): a Security Alert naming the rule and reason.
    func denialEvent(_ input: AuditInput, _ interaction: Interaction) -> AuditEventDraft {
        let pattern = RESTPattern(interaction)
        var draft = AuditEventDraft(
            type: DraftCode(CodeSystem.dicom, "110113"),
            subtype: [DraftCode(CodeSystem.balpAuthZ, "AuthZ-Role")] + subtypes(pattern, interaction),
            action: pattern.action, recorded: AuditTime.instant(input.time), outcome: outcomeCode(input.outcome),
            outcomeDesc: outcomeDescription(input), purposeOfEvent: input.purposeOfUse, source: source(type: "6"))
        draft.agents = [clientAgent(input, type: DraftCode(CodeSystem.dicom, "110150"))]
        draft.agents.append(serverAgent(type: DraftCode(CodeSystem.securityRole, "authserver"), address: nil))
        if let practitioner = practitionerAgent(input, interaction) { draft.agents.append(practitioner) }

        draft.entities = [queryEntity(input)] + patientEntities(input, interaction)
        if let jti = input.tokenJTI {
            draft.entities.append(
                DraftEntity(
                    what: DraftReference(identifier: DraftIdentifier(value: jtiPrefix + jti)),
                    type: DraftCode(CodeSystem.balpAgentType, "UserOauthAgent")))
        }
        draft.entities += [policyEntity(input), transactionEntity(input)].compactMap { $0 }
        return draft
    }

    /// Token requests at the gateway's authorization server (SPEC-DIGEST §5.3 e, IHE IUA ITI-71 pattern).
    func tokenEvent(_ input: AuditInput, _ token: AuditTokenRequest) -> AuditEventDraft {
        let success = input.outcome == .success
        var draft = AuditEventDraft(
            type: DraftCode(CodeSystem.dicom, "110114"), subtype: [DraftCode(CodeSystem.iheEventType, "ITI-71")],
            action: "E", recorded: AuditTime.instant(input.time), outcome: outcomeCode(input.outcome),
            outcomeDesc: outcomeDescription(input), source: source(type: "6"))
        if success { draft.profiles = [BALPProfile.getAccessToken] }

        draft.agents = [clientAgent(input, type: DraftCode(CodeSystem.dicom, "110150"))]
        draft.agents.append(
            serverAgent(
                type: DraftCode(CodeSystem.balpAgentType, "AuthzOauthService"), address: configuration.tokenEndpointURL)
        )

        // A refusal has no token-response entity, so the assertion's jti goes on the request entity.
        let assertionDetail = token.assertionJTI.map { (type: "client_assertion.jti", value: jtiPrefix + $0) }
        let requestDetails = success ? [] : [assertionDetail].compactMap { $0 }
        draft.entities = [queryEntity(input, body: tokenRequestBody(token), details: requestDetails)]
        if success, let issued = token.issuedTokenJTI {
            var details: [(type: String, value: String)] = []
            if let scope = token.grantedScope { details.append((type: "scope", value: scope)) }
            if let expiresIn = token.expiresIn { details.append((type: "expires_in", value: String(expiresIn))) }
            if let assertionDetail { details.append(assertionDetail) }
            draft.entities.append(
                DraftEntity(
                    what: DraftReference(identifier: DraftIdentifier(value: jtiPrefix + issued)),
                    type: DraftCode(CodeSystem.entityType, "2"), role: DraftCode(CodeSystem.objectRole, "13"),
                    detail: details))
        }
        if let transaction = transactionEntity(input) { draft.entities.append(transaction) }
        return draft
    }

    // MARK: - Helpers

    func subtypes(_ pattern: RESTPattern, _ interaction: Interaction) -> [DraftCode] {
        var codes = [DraftCode(CodeSystem.restful, pattern.subtype)]
        if pattern.shape == .operation, let name = interaction.operation, let uri = knownOperationURIs[name] {
            codes.append(DraftCode(CodeSystem.uri, uri))
        }
        return codes
    }

    /// The `data` entity of read/create/update/delete, or the `query` entity of searches, history and
    /// operations; batch/transaction get one `data` entity per entry that names a resource.
    func subjectEntities(_ input: AuditInput, _ interaction: Interaction, _ pattern: RESTPattern) -> [DraftEntity] {
        switch pattern.shape {
        case .read, .create, .update, .delete:
            return [dataEntity(input.resultReference ?? reference(interaction))]
        case .query, .operation:
            return [queryEntity(input)]
        case .other:
            return interaction.entries.compactMap { child -> DraftEntity? in
                guard child.resourceType != nil else { return nil }
                return dataEntity(reference(child))
            }
        }
    }

    func dataEntity(_ reference: String) -> DraftEntity {
        let what = reference.contains("/") ? DraftReference(reference: reference) : DraftReference(type: reference)
        return DraftEntity(
            what: what, type: DraftCode(CodeSystem.entityType, "2"), role: DraftCode(CodeSystem.objectRole, "4"))
    }

    /// `Type/id[/_history/vid]`, or just `Type` when the interaction names no instance (e.g. create).
    func reference(_ interaction: Interaction) -> String {
        var reference = interaction.resourceType ?? "Resource"
        if let id = interaction.id { reference += "/" + id }
        if interaction.id != nil, let version = interaction.versionId { reference += "/_history/" + version }
        return reference
    }

    /// BALP profiles are claimed only for successful events (they fix `outcome` to 0); the Patient variant
    /// needs exactly one patient entity.
    func profiles(_ pattern: RESTPattern, _ input: AuditInput, patientCount: Int) -> [String] {
        guard input.outcome == .success, let stem = pattern.profile else { return [] }
        var profiles = [BALPProfile.base + "IHE.BasicAudit." + (patientCount == 1 ? "Patient" : "") + stem]
        if input.tokenJTI != nil { profiles.append(BALPProfile.tokenUseMinimal) }
        return profiles
    }

    /// The token request as a form body with the client assertion redacted (SPEC-DIGEST §7 q29).
    func tokenRequestBody(_ token: AuditTokenRequest) -> String {
        var fields: [(String, String)] = []
        if let grantType = token.grantType { fields.append(("grant_type", grantType)) }
        if let scope = token.requestedScope { fields.append(("scope", scope)) }
        if let type = token.clientAssertionType { fields.append(("client_assertion_type", type)) }
        fields.append(("client_assertion", "[REDACTED]"))
        return fields.map { "\($0.0)=\(formEncode($0.1))" }.joined(separator: "&")
    }

    func formEncode(_ value: String) -> String {
        if value == "[REDACTED]" { return value }
        var out = ""
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "*"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: " "): out += "+"
            default:
                let hex = Array("0123456789ABCDEF")
                out += "%" + String(hex[Int(byte >> 4)]) + String(hex[Int(byte & 0x0F)])
            }
        }
        return out
    }
}
