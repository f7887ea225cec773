// The search parameters the gateway understands, per resource type (issue #5 item 1). An upstream that
// ignores an unknown parameter returns everything, so a parameter missing here is refused with 400.
// Sources: FHIR R4 4.0.1 search-parameters.json (names and reference targets, via SPEC-DIGEST §3.3 for the
// compartment rows) and the resource pages for the PDMP types. One line per type (a type may take several
// lines): `Type: name name@Target,Target ...`; `@` marks a reference parameter and lists its targets.

/// What the gateway knows about one search parameter.
public struct SearchParameterInfo: Sendable, Hashable {
    /// For reference parameters, the target types (nil targets = any type); nil for other kinds.
    public var referenceTargets: Set<String>?
    public var isReference: Bool
    /// True when the parameter can name a Patient: a compartment parameter, or a reference that may target
    /// Patient (e.g. `MedicationRequest.patient`, which R4 does not list in the compartment).
    public var canNamePatient: Bool
    /// True when a bare id value can only mean a Patient (targets ⊆ {Patient, Group}).
    public var bareIdIsPatient: Bool
}

/// Known search parameters.
public enum SearchParameterTable {
    /// Parameters every resource type has (R4 search.html "Parameters for all resources").
    static let common: Set<String> = ["_id", "_lastUpdated", "_tag", "_profile", "_security", "_source"]

    /// Result-shaping parameters the gateway understands (R4 search.html §3.1.1.5 and onwards). `_offset`
    /// is not R4 but is how the upstream (sekmet-fhir) pages: its `next` links carry it.
    static let control: Set<String> = [
        "_count", "_offset", "_sort", "_include", "_revinclude", "_elements", "_summary", "_total", "_format",
        "_pretty",
    ]

    static let table: [String: [String: SearchParameterInfo]] = build()

    /// The description of `name` on `type`, or nil when the gateway does not know it.
    public static func info(_ name: String, of type: String) -> SearchParameterInfo? {
        if common.contains(name) {
            return SearchParameterInfo(referenceTargets: nil, isReference: false, canNamePatient: false,
                bareIdIsPatient: false)
        }
        return table[type]?[name]
    }

    private static func build() -> [String: [String: SearchParameterInfo]] {
        var table: [String: [String: SearchParameterInfo]] = [:]
        // Compartment parameters are known for every member type.
        for (type, parameters) in PatientCompartment.table {
            for parameter in parameters {
                table[type, default: [:]][parameter.name] = SearchParameterInfo(
                    referenceTargets: parameter.targets, isReference: true, canNamePatient: true,
                    bareIdIsPatient: parameter.bareIdIsPatient)
            }
        }
        for line in listText.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let type = line[..<colon].trimmingSpaces()
            for word in line[line.index(after: colon)...].split(separator: " ") {
                let (name, info) = parse(word)
                if table[type]?[name] == nil { table[type, default: [:]][name] = info }
            }
        }
        return table
    }

    private static func parse(_ word: Substring) -> (String, SearchParameterInfo) {
        guard let at = word.firstIndex(of: "@") else {
            return (String(word), SearchParameterInfo(referenceTargets: nil, isReference: false,
                canNamePatient: false, bareIdIsPatient: false))
        }
        let targetText = word[word.index(after: at)...]
        let targets: Set<String>? = targetText == "*" ? nil : Set(targetText.split(separator: ",").map(String.init))
        let canNamePatient = targets?.contains("Patient") ?? true
        let bareIdIsPatient = targets.map { $0.contains("Patient") && $0.isSubset(of: ["Patient", "Group"]) } ?? false
        let info = SearchParameterInfo(referenceTargets: targets, isReference: true, canNamePatient: canNamePatient,
            bareIdIsPatient: bareIdIsPatient)
        return (String(word[..<at]), info)
    }

    private static let listText = """
        Patient: identifier name family given birthdate gender address address-city address-state
        Patient: address-postalcode address-country phone telecom email active death-date deceased language
        Patient: general-practitioner@Practitioner,Organization,PractitionerRole organization@Organization
        MedicationRequest: identifier status intent category code authoredon date priority
        MedicationRequest: patient@Patient medication@Medication encounter@Encounter intended-dispenser@Organization
        MedicationRequest: requester@Practitioner,PractitionerRole,Organization,Patient,RelatedPerson,Device
        MedicationRequest: intended-performer@Practitioner,PractitionerRole,Organization,Patient,RelatedPerson,Device
        MedicationRequest: intended-performertype
        MedicationDispense: identifier status code type whenhandedover whenprepared
        MedicationDispense: medication@Medication prescription@MedicationRequest destination@Location
        MedicationDispense: performer@Practitioner,PractitionerRole,Organization,Patient,Device,RelatedPerson
        MedicationDispense: responsibleparty@Practitioner,PractitionerRole context@Encounter,EpisodeOfCare
        MedicationAdministration: identifier status code effective-time reason-given reason-not-given
        MedicationAdministration: medication@Medication request@MedicationRequest context@Encounter,EpisodeOfCare
        MedicationAdministration: device@Device
        MedicationStatement: identifier status code category effective medication@Medication
        MedicationStatement: patient@Patient context@Encounter,EpisodeOfCare part-of@MedicationAdministration
        MedicationStatement: source@Organization,Patient,Practitioner,PractitionerRole,RelatedPerson
        Practitioner: identifier name family given active address address-city address-state address-postalcode
        Practitioner: gender phone telecom email communication
        PractitionerRole: identifier role specialty active date email phone telecom service@HealthcareService
        PractitionerRole: practitioner@Practitioner organization@Organization location@Location endpoint@Endpoint
        Organization: identifier name phonetic address address-city address-state address-postalcode type active
        Organization: partof@Organization endpoint@Endpoint
        Location: identifier name address address-city address-state address-postalcode type status
        Location: operational-status organization@Organization partof@Location endpoint@Endpoint
        Medication: code identifier status form ingredient-code lot-number expiration-date
        Medication: manufacturer@Organization ingredient@Substance,Medication
        Bundle: identifier type timestamp
        MessageHeader: code event source source-uri destination destination-uri response-id
        MessageHeader: focus@* sender@Practitioner,PractitionerRole,Organization
        MessageHeader: author@Practitioner,PractitionerRole enterer@Practitioner,PractitionerRole
        AuditEvent: date type subtype action outcome site address policy entity-type entity-role agent-role altid
        AuditEvent: entity-name agent-name agent@* entity@* source@*
        Observation: patient@Patient code category date status identifier value-quantity value-concept
        Observation: encounter@Encounter based-on@MedicationRequest,ServiceRequest,CarePlan
        Encounter: subject@Patient,Group status class type date identifier location@Location
        Encounter: participant@Practitioner,PractitionerRole,RelatedPerson practitioner@Practitioner
        Encounter: service-provider@Organization
        Condition: subject@Patient,Group code category clinical-status verification-status onset-date
        Condition: recorded-date identifier encounter@Encounter
        AllergyIntolerance: code clinical-status verification-status category criticality date identifier type
        Coverage: patient@Patient identifier status type
        DetectedIssue: code identified identifier author@Practitioner,PractitionerRole,Device implicated@*
        RelatedPerson: identifier name family given birthdate gender relationship active address telecom
        """
}

extension Substring {
    func trimmingSpaces() -> String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
