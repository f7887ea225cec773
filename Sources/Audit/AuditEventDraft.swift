// An AuditEvent described as data (which agents, entities, codes), written through an `AuditJSONOutput`.
// The shapes (AuditEventBuilder+Shapes.swift) only fill drafts; this file is the one place that knows how
// each element is spelled in JSON. Every object's members are written in byte order of their names (the
// canonical order, docs/audit.md "Record format"), and empty arrays are left out (FHIR R4 json.html:
// arrays are never empty).

/// A Coding (`{"code","system"}`), or a CodeableConcept with that one Coding.
typealias DraftCode = AuditCoding

/// An Identifier with an optional system.
struct DraftIdentifier {
    var system: String?
    var value: String

    func write<O: AuditJSONOutput>(to out: inout O) {
        out.object { o in
            if let system { o.member("system", system) }
            o.member("value", value)
        }
    }
}

/// A Reference (`what`, `who`, `observer`): only the members that are set are written; none gives `{}`.
struct DraftReference {
    var display: String? = nil
    var identifier: DraftIdentifier? = nil
    var reference: String? = nil
    var type: String? = nil

    func write<O: AuditJSONOutput>(to out: inout O) {
        out.object { o in
            if let display { o.member("display", display) }
            if let identifier { o.member("identifier") { identifier.write(to: &$0) } }
            if let reference { o.member("reference", reference) }
            if let type { o.member("type", type) }
        }
    }
}

/// An `AuditEvent.agent`.
struct DraftAgent {
    /// `type`, a CodeableConcept.
    var type: DraftCode
    var who: DraftReference
    var name: String? = nil
    var requestor: Bool
    /// `network.address` and `network.type` (1 name, 2 IP address, 5 URI).
    var network: (address: String, type: String)? = nil
    /// `role[0].text`.
    var role: String? = nil
    var policy: [String] = []
    var purposeOfUse: [DraftCode] = []

    func write<O: AuditJSONOutput>(to out: inout O) {
        out.object { o in
            if let name { o.member("name", name) }
            if let network {
                o.member("network") {
                    $0.object {
                        $0.member("address", network.address)
                        $0.member("type", network.type)
                    }
                }
            }
            if !policy.isEmpty { o.member("policy") { $0.strings(policy) } }
            if !purposeOfUse.isEmpty { o.member("purposeOfUse") { $0.concepts(purposeOfUse) } }
            o.member("requestor", requestor)
            if let role { o.member("role") { $0.array { $0.object { $0.member("text", role) } } } }
            o.member("type") { $0.concept(type) }
            o.member("who") { who.write(to: &$0) }
        }
    }
}

/// An `AuditEvent.entity`.
struct DraftEntity {
    var what: DraftReference? = nil
    /// `type`, a Coding.
    var type: DraftCode
    /// `role`, a Coding.
    var role: DraftCode? = nil
    var description: String? = nil
    /// `query`, base64.
    var query: String? = nil
    /// `detail[]` as `type` and `valueString`.
    var detail: [(type: String, value: String)] = []

    func write<O: AuditJSONOutput>(to out: inout O) {
        out.object { o in
            if let description { o.member("description", description) }
            if !detail.isEmpty {
                o.member("detail") {
                    $0.array {
                        for item in detail {
                            $0.object {
                                $0.member("type", item.type)
                                $0.member("valueString", item.value)
                            }
                        }
                    }
                }
            }
            if let query { o.member("query", query) }
            if let role { o.member("role") { $0.coding(role) } }
            o.member("type") { $0.coding(type) }
            if let what { o.member("what") { what.write(to: &$0) } }
        }
    }
}

/// `AuditEvent.source`.
struct DraftSource {
    var site: String?
    var observer: DraftReference
    /// `type[0]`, a Coding.
    var type: DraftCode

    func write<O: AuditJSONOutput>(to out: inout O) {
        out.object { o in
            o.member("observer") { observer.write(to: &$0) }
            if let site { o.member("site", site) }
            o.member("type") { $0.array { $0.coding(type) } }
        }
    }
}

/// An AuditEvent under construction: the shapes fill it, `write(to:)` writes it.
struct AuditEventDraft {
    var profiles: [String] = []
    /// `type`, a Coding.
    var type: DraftCode
    /// `subtype[]`, Codings.
    var subtype: [DraftCode] = []
    var action: String
    var recorded: String
    var outcome: String
    var outcomeDesc: String?
    /// `purposeOfEvent[]`, one CodeableConcept each.
    var purposeOfEvent: [DraftCode] = []
    var agents: [DraftAgent] = []
    var source: DraftSource
    var entities: [DraftEntity] = []

    func write<O: AuditJSONOutput>(to out: inout O) {
        out.object { o in
            o.member("action", action)
            o.member("agent") { $0.array { for agent in agents { agent.write(to: &$0) } } }
            if !entities.isEmpty {
                o.member("entity") { $0.array { for entity in entities { entity.write(to: &$0) } } }
            }
            if !profiles.isEmpty { o.member("meta") { $0.object { $0.member("profile") { $0.strings(profiles) } } } }
            o.member("outcome", outcome)
            if let outcomeDesc { o.member("outcomeDesc", outcomeDesc) }
            if !purposeOfEvent.isEmpty { o.member("purposeOfEvent") { $0.concepts(purposeOfEvent) } }
            o.member("recorded", recorded)
            o.member("resourceType", "AuditEvent")
            o.member("source") { source.write(to: &$0) }
            if !subtype.isEmpty { o.member("subtype") { $0.array { for code in subtype { $0.coding(code) } } } }
            o.member("type") { $0.coding(type) }
        }
    }
}

extension AuditJSONOutput {
    /// A Coding.
    mutating func coding(_ code: DraftCode) {
        object {
            $0.member("code", code.code)
            $0.member("system", code.system)
        }
    }

    /// A CodeableConcept with one Coding.
    mutating func concept(_ code: DraftCode) {
        object { $0.member("coding") { $0.array { $0.coding(code) } } }
    }

    /// An array of CodeableConcepts.
    mutating func concepts(_ codes: [DraftCode]) {
        array { for code in codes { $0.concept(code) } }
    }

    /// An array of strings.
    mutating func strings(_ values: [String]) {
        array { for value in values { $0.string(value) } }
    }
}

extension DraftCode {
    init(_ system: String, _ code: String) {
        self.init(system: system, code: code)
    }
}
