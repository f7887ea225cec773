// The FHIR meaning of a request (ARCHITECTURE §1 step 2). The classifier builds it from method, canonical
// path, query and body; scopes, policy and audit read it. Kinds follow FHIR R4 http.html.
public import GatewayCore

/// What kind of RESTful interaction a request is.
public enum InteractionKind: String, Sendable, Hashable, CaseIterable {
    case read, vread, update, patch, delete, create
    case conditionalUpdate = "conditional-update"
    case conditionalDelete = "conditional-delete"
    case conditionalPatch = "conditional-patch"
    case historyInstance = "history-instance"
    case historyType = "history-type"
    case historySystem = "history-system"
    case searchType = "search-type"
    case searchSystem = "search-system"
    /// `Patient/{id}/{type}` (`Patient/{id}/*` is refused with 400: `*` is not a canonical path byte).
    case searchCompartment = "search-compartment"
    case capabilities
    case batch, transaction
    case operation
}

/// Where an operation is invoked (`$op` on the system, a type, or an instance).
public enum OperationLevel: String, Sendable, Hashable {
    case system, type, instance
}

/// One search parameter as written: `name[:modifier][.chain]=value,value`.
public struct SearchParameter: Sendable, Hashable {
    /// The parameter name without modifier or chain, e.g. `patient`, `subject`, `_include`.
    public var name: String
    /// The modifier after `:`, e.g. `exact`, `missing`, or a type for references (`Patient`).
    public var modifier: String?
    /// The chain after `.`, e.g. `name` in `subject.name=smith`; nil when not chained.
    public var chain: String?
    /// The comma-separated values, percent-decoded (escaped commas `\,` kept inside one value).
    public var values: [String]

    public init(name: String, modifier: String? = nil, chain: String? = nil, values: [String]) {
        self.name = name
        self.modifier = modifier
        self.chain = chain
        self.values = values
    }
}

/// Parameters of a `$pdmp-history` request (PDMP IG 1.0.0, SPEC-DIGEST §4.2), for policy and audit.
public struct PDMPHistoryRequest: Sendable, Hashable {
    public struct Practitioner: Sendable, Hashable {
        /// Identifiers as `system|value` strings, e.g. `http://hl7.org/fhir/sid/us-npi|1234567893`.
        public var identifiers: [String]
        public var npi: String?
        public var dea: String?
        public var name: String?
        public init(identifiers: [String] = [], npi: String? = nil, dea: String? = nil, name: String? = nil) {
            self.identifiers = identifiers
            self.npi = npi
            self.dea = dea
            self.name = name
        }
    }

    /// Patient demographics as given (name, birthDate, gender, identifiers); PHI, never logged.
    public var patientFamily: String?
    public var patientGiven: [String]
    public var patientBirthDate: String?
    public var patientIdentifiers: [String]
    public var authorizedPractitioner: Practitioner?
    /// The authorized practitioner's role code, if given.
    public var practitionerRole: String?
    public var organizationIdentifiers: [String]
    public var delegate: Practitioner?
    /// True when the request is for an animal (veterinary request; `animal-owner` parameter present).
    public var hasAnimalOwner: Bool
    public var preStage: Bool
    /// The `pre-stage-retrieval-key` of a follow-up call, if given.
    public var preStageRetrievalKey: String? = nil

    public init(
        patientFamily: String? = nil, patientGiven: [String] = [], patientBirthDate: String? = nil,
        patientIdentifiers: [String] = [], authorizedPractitioner: Practitioner? = nil,
        practitionerRole: String? = nil, organizationIdentifiers: [String] = [], delegate: Practitioner? = nil,
        hasAnimalOwner: Bool = false, preStage: Bool = false
    ) {
        self.patientFamily = patientFamily
        self.patientGiven = patientGiven
        self.patientBirthDate = patientBirthDate
        self.patientIdentifiers = patientIdentifiers
        self.authorizedPractitioner = authorizedPractitioner
        self.practitionerRole = practitionerRole
        self.organizationIdentifiers = organizationIdentifiers
        self.delegate = delegate
        self.hasAnimalOwner = hasAnimalOwner
        self.preStage = preStage
    }
}

/// The classified request.
public struct Interaction: Sendable, Hashable {
    public var kind: InteractionKind
    /// The HTTP method as received (uppercase).
    public var method: String
    /// The resource type the interaction targets (nil for system-level interactions).
    public var resourceType: String?
    /// The logical id for instance-level interactions.
    public var id: String?
    /// The version id for vread and instance history.
    public var versionId: String?
    /// The operation name without `$`, e.g. `pdmp-history`, for `.operation`.
    public var operation: String?
    public var operationLevel: OperationLevel?
    /// For a compartment search `Patient/{id}/{type}`: the target type.
    public var compartmentTargetType: String?
    /// Search (or operation) parameters from the query and, for POST `_search`, the form body.
    public var parameters: [SearchParameter]
    /// Every patient id the request names (from the path, compartment parameters in every form, and
    /// references in bodies), normalised to bare ids. Empty when it names none.
    public var patients: Set<String>
    /// Resource types a search can return: the target type plus every `_include`/`_revinclude` target.
    /// `*` means any type (a system search without `_type`).
    public var returnedTypes: Set<String>
    /// The `$pdmp-history` (or `$process-message` request) parameters, when this is one.
    public var pdmpHistory: PDMPHistoryRequest?
    /// For batch/transaction bundles: one child interaction per entry, in order.
    public var entries: [Interaction]
    /// For a child of a batch/transaction: its position in the posted Bundle's `entry` array.
    public var entryIndex: Int? = nil
    /// For a batch: entries refused at classification (each answered with its own error response; the
    /// others proceed). Always empty for a transaction, which is refused as a whole instead.
    public var rejectedEntries: [RejectedEntry] = []
    /// For a conditional create: the `If-None-Exist` criteria, parsed like a search on the type (FHIR-19).
    public var ifNoneExist: [SearchParameter]? = nil
    /// The request body as the gateway parsed and checked it (writes, operations, batch entries), so that
    /// what is forwarded is exactly what was checked.
    public var resource: JSONValue? = nil

    public init(
        kind: InteractionKind, method: String, resourceType: String? = nil, id: String? = nil,
        versionId: String? = nil, operation: String? = nil, operationLevel: OperationLevel? = nil,
        compartmentTargetType: String? = nil, parameters: [SearchParameter] = [], patients: Set<String> = [],
        returnedTypes: Set<String> = [], pdmpHistory: PDMPHistoryRequest? = nil, entries: [Interaction] = []
    ) {
        self.kind = kind
        self.method = method
        self.resourceType = resourceType
        self.id = id
        self.versionId = versionId
        self.operation = operation
        self.operationLevel = operationLevel
        self.compartmentTargetType = compartmentTargetType
        self.parameters = parameters
        self.patients = patients
        self.returnedTypes = returnedTypes
        self.pdmpHistory = pdmpHistory
        self.entries = entries
    }

    /// True when the request names exactly one patient.
    public var namesExactlyOnePatient: Bool { patients.count == 1 }
}

/// A batch entry the classifier refused.
public struct RejectedEntry: Sendable, Hashable {
    /// The position in the posted Bundle's `entry` array.
    public var index: Int
    public var error: FHIRRequestError

    public init(index: Int, error: FHIRRequestError) {
        self.index = index
        self.error = error
    }
}
