// Code systems and codes used in the AuditEvents the gateway writes (SPEC-DIGEST §5.1, §5.2).

import GatewayCore

enum CodeSystem {
    static let auditEventType = "http://terminology.hl7.org/CodeSystem/audit-event-type"
    static let dicom = "http://dicom.nema.org/resources/ontology/DCM"
    static let restful = "http://hl7.org/fhir/restful-interaction"
    static let entityType = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
    static let objectRole = "http://terminology.hl7.org/CodeSystem/object-role"
    static let sourceType = "http://terminology.hl7.org/CodeSystem/security-source-type"
    static let participationType = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
    static let provenanceParticipant = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
    static let securityRole = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
    static let balpEntityType = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType"
    static let balpAgentType = "https://profiles.ihe.net/ITI/BALP/CodeSystem/UserAgentTypes"
    static let balpAuthZ = "https://profiles.ihe.net/ITI/BALP/CodeSystem/AuthZsubType"
    static let iheEventType = "urn:ihe:event-type-code"
    static let uri = "urn:ietf:rfc:3986"
    /// The gateway's own codes (tail repair); not a published code system.
    static let gateway = "urn:pdmp-gateway:audit"
    /// The gateway's policy rule names.
    static let policyRule = "urn:pdmp-gateway:policy-rule"
}

enum BALPProfile {
    static let base = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/"
    static let tokenUseMinimal = base + "IHE.BasicAudit.OAUTHaccessTokenUse.Minimal"
    static let getAccessToken = base + "IHE.IUA.71"
}

/// OAuth token ids are recorded with this prefix (BALP OAUTHaccessTokenUse.Minimal: "SHALL be prefixed").
let jtiPrefix = "urn:ietf:params:oauth:jti:"

/// Canonical URLs of the operations the gateway knows (PDMP IG 1.0.0 §4.2; FHIR R4 MessageHeader).
let knownOperationURIs: [String: String] = [
    "pdmp-history": "http://hl7.org/fhir/us/pdmp/OperationDefinition/pdmp-history",
    "process-message": "http://hl7.org/fhir/OperationDefinition/MessageHeader-process-message",
]

/// Identifier systems that are never written, not even hashed (SSNs; issue #7 "no SSN in the audit").
let forbiddenIdentifierSystems: Set<String> = ["http://hl7.org/fhir/sid/us-ssn", "urn:oid:2.16.840.1.113883.4.1"]

extension JSONValue {
    /// A Coding.
    static func coding(_ system: String, _ code: String) -> JSONValue {
        .obj([("system", .str(system)), ("code", .str(code))])
    }

    /// A CodeableConcept with one Coding.
    static func concept(_ system: String, _ code: String) -> JSONValue {
        .obj([("coding", .array([.coding(system, code)]))])
    }
}
