// The attributes a policy condition can test (docs/policies.md lists each with an example). Every
// attribute has one type, which decides the matchers it accepts; values are read straight from the
// Principal and the Interaction without copying collections.
import FHIR
import Foundation
import SMART

/// The value type of an attribute.
enum AttributeType: String, Sendable {
    case string = "a string"
    case stringSet = "a set of strings"
    case bool = "a boolean"
    case int = "an integer"
    case address = "an IP address"
    /// Present or absent (tested with `exists`, or `true`/`false`).
    case presence = "a presence flag"
}

/// A documented attribute.
enum Attribute: String, Sendable, CaseIterable {
    case clientID = "client.id"
    case clientKind = "client.kind"
    case clientRoles = "client.roles"
    case clientNPIs = "client.npis"
    case clientDEAs = "client.deas"
    case clientStatus = "client.status"
    case clientNetworks = "client.networks"
    case clientRegistered = "client.registered"
    case tokenIssuer = "token.issuer"
    case tokenScopes = "token.scopes"
    case tokenPatient = "token.patient"
    case tokenPurposeOfUse = "token.purpose_of_use"
    case requestKind = "request.kind"
    case requestMethod = "request.method"
    case requestType = "request.type"
    case requestID = "request.id"
    case requestOperation = "request.operation"
    case requestParameters = "request.parameters"
    case requestPatients = "request.patients"
    case requestReturnedTypes = "request.returned_types"
    case pdmpRequest = "pdmp.request"
    case pdmpPractitionerNPI = "pdmp.practitioner.npi"
    case pdmpPractitionerDEA = "pdmp.practitioner.dea"
    case pdmpPractitionerIdentifiers = "pdmp.practitioner.identifiers"
    case pdmpPractitionerRole = "pdmp.practitioner_role"
    case pdmpOrganizationIdentifiers = "pdmp.organization.identifiers"
    case pdmpDelegate = "pdmp.delegate"
    case pdmpDelegateNPI = "pdmp.delegate.npi"
    case pdmpDelegateDEA = "pdmp.delegate.dea"
    case pdmpDelegateIdentifiers = "pdmp.delegate.identifiers"
    case pdmpAnimalOwner = "pdmp.animal_owner"
    case pdmpPreStage = "pdmp.pre_stage"
    case networkAddress = "network.address"
    case networkMTLSSubject = "network.mtls_subject"
    case timeHour = "time.hour"
    case timeWeekday = "time.weekday"

    var type: AttributeType {
        switch self {
        case .clientRoles, .clientNPIs, .clientDEAs, .clientNetworks, .tokenScopes, .requestParameters,
             .requestPatients, .requestReturnedTypes, .pdmpPractitionerIdentifiers, .pdmpOrganizationIdentifiers,
             .pdmpDelegateIdentifiers:
            .stringSet
        case .clientRegistered, .pdmpRequest, .pdmpAnimalOwner, .pdmpPreStage:
            .bool
        case .timeHour:
            .int
        case .networkAddress:
            .address
        case .pdmpDelegate:
            .presence
        default:
            .string
        }
    }

    /// The closed set of values a string attribute can take (checked when policies load).
    var allowedValues: [String]? {
        switch self {
        case .clientKind: ["provider", "organization"]
        case .clientStatus: ["active", "suspended"]
        case .requestKind: InteractionKind.allCases.map(\.rawValue)
        case .requestMethod: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
        case .timeWeekday: Attribute.weekdays
        default: nil
        }
    }

    static let weekdays = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

    /// True for attributes that need the local time (computed only when a policy uses them).
    var needsTime: Bool { self == .timeHour || self == .timeWeekday }
}

/// UTC offsets of the configured zone, precomputed for a window around load time so that a decision never
/// calls into the time-zone database (outside the window, the database is asked directly).
final class ZoneOffsets: Sendable {
    let timeZone: TimeZone
    /// Instants (seconds since the epoch, ascending) from which `offsets[i]` applies.
    private let starts: [Double]
    private let offsets: [Int]
    private let end: Double

    init(_ timeZone: TimeZone, around reference: Date = Date()) {
        self.timeZone = timeZone
        let first = reference.addingTimeInterval(-31 * 86400)
        let last = reference.addingTimeInterval(2 * 366 * 86400)
        var starts = [first.timeIntervalSince1970]
        var offsets = [timeZone.secondsFromGMT(for: first)]
        var cursor = first
        while let next = timeZone.nextDaylightSavingTimeTransition(after: cursor), next < last {
            starts.append(next.timeIntervalSince1970)
            offsets.append(timeZone.secondsFromGMT(for: next))
            cursor = next
        }
        self.starts = starts
        self.offsets = offsets
        self.end = last.timeIntervalSince1970
    }

    /// Seconds east of UTC at `time`.
    func offset(at time: Double) -> Int {
        guard time >= starts[0], time < end else {
            return timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: time))
        }
        var index = starts.count - 1
        while starts[index] > time { index -= 1 }
        return offsets[index]
    }
}

/// Per-decision facts, computed on first use: the parsed client address, the local time, and copies of the
/// registry entry and the `$pdmp-history` parameters (copied once per decision instead of once per test).
struct LazyFacts {
    let zone: ZoneOffsets
    private var addressState: UInt8 = 0  // 0 unknown, 1 parsed, 2 invalid
    private var address = IPAddress(high: 0, low: 0)
    private var timeParts: (hour: Int, weekday: Int)?

    private var clientLoaded = false
    private(set) var clientRegistered = false
    private(set) var clientKind: String?
    private(set) var clientStatus: String?
    private(set) var clientRoles: [String] = []
    private(set) var clientNPIs: [String] = []
    private(set) var clientDEAs: [String] = []
    private(set) var clientNetworks: [String] = []

    private var pdmpLoaded = false
    private(set) var isPDMP = false
    private(set) var practitionerNPI: String?
    private(set) var practitionerDEA: String?
    private(set) var practitionerRole: String?
    private(set) var practitionerIdentifiers: [String] = []
    private(set) var organizationIdentifiers: [String] = []
    private(set) var hasDelegate = false
    private(set) var delegateNPI: String?
    private(set) var delegateDEA: String?
    private(set) var delegateIdentifiers: [String] = []
    private(set) var animalOwner: Bool?
    private(set) var preStage: Bool?

    init(zone: ZoneOffsets) {
        self.zone = zone
    }

    mutating func clientAddress(_ input: PolicyInput) -> IPAddress? {
        if addressState == 0 {
            if let parsed = IPAddress(input.clientAddress) {
                address = parsed
                addressState = 1
            } else {
                addressState = 2
            }
        }
        return addressState == 1 ? address : nil
    }

    /// Hour (0...23) and weekday (0 = Monday) of `now` in the configured zone.
    mutating func time(_ input: PolicyInput) -> (hour: Int, weekday: Int) {
        if let timeParts { return timeParts }
        let local = Int((input.now + Double(zone.offset(at: input.now))).rounded(.down))
        let days = local >= 0 ? local / 86400 : (local - 86399) / 86400
        let seconds = local - days * 86400
        // 1970-01-01 was a Thursday (index 3 when Monday is 0).
        let parts = (hour: seconds / 3600, weekday: ((days % 7) + 7 + 3) % 7)
        timeParts = parts
        return parts
    }

    mutating func loadClient(_ input: PolicyInput) {
        guard !clientLoaded else { return }
        clientLoaded = true
        guard let client = input.principal.client else { return }
        clientRegistered = true
        clientKind = client.kind.rawValue
        clientStatus = client.status.rawValue
        clientRoles = client.roles
        clientNPIs = client.npis
        clientDEAs = client.deas
        clientNetworks = client.networks
    }

    mutating func loadPDMP(_ input: PolicyInput) {
        guard !pdmpLoaded else { return }
        pdmpLoaded = true
        guard let history = input.interaction.pdmpHistory else { return }
        isPDMP = true
        practitionerNPI = history.authorizedPractitioner?.npi
        practitionerDEA = history.authorizedPractitioner?.dea
        practitionerIdentifiers = history.authorizedPractitioner?.identifiers ?? []
        practitionerRole = history.practitionerRole
        organizationIdentifiers = history.organizationIdentifiers
        hasDelegate = history.delegate != nil
        delegateNPI = history.delegate?.npi
        delegateDEA = history.delegate?.dea
        delegateIdentifiers = history.delegate?.identifiers ?? []
        animalOwner = history.hasAnimalOwner
        preStage = history.preStage
    }
}

/// A read-only view of a set-valued attribute, without copying it.
enum StringSetView {
    case array([String])
    case set(Set<String>)
    case parameterNames([SearchParameter])
    case empty

    var count: Int {
        switch self {
        case .array(let values): values.count
        case .set(let values): values.count
        case .parameterNames(let parameters): parameters.count
        case .empty: 0
        }
    }

    func contains(_ value: String) -> Bool {
        switch self {
        case .array(let values): values.contains(value)
        case .set(let values): values.contains(value)
        case .parameterNames(let parameters): parameters.contains { $0.name == value }
        case .empty: false
        }
    }

    /// True when some element satisfies `predicate`.
    func contains(where predicate: (String) -> Bool) -> Bool {
        switch self {
        case .array(let values): values.contains(where: predicate)
        case .set(let values): values.contains(where: predicate)
        case .parameterNames(let parameters): parameters.contains { predicate($0.name) }
        case .empty: false
        }
    }

    /// True when every element satisfies `predicate` (vacuously true when empty).
    func allSatisfy(_ predicate: (String) -> Bool) -> Bool {
        !contains { !predicate($0) }
    }

    /// The elements, for explanations (allocates; not for the hot path).
    var elements: [String] {
        switch self {
        case .array(let values): values
        case .set(let values): values.sorted()
        case .parameterNames(let parameters): parameters.map(\.name)
        case .empty: []
        }
    }
}

extension Attribute {
    /// The value of a string attribute; nil when absent.
    func string(_ input: PolicyInput, _ facts: inout LazyFacts) -> String? {
        switch self {
        case .clientID: return input.principal.clientID
        case .clientKind: facts.loadClient(input); return facts.clientKind
        case .clientStatus: facts.loadClient(input); return facts.clientStatus
        case .tokenIssuer: return input.principal.issuer
        case .tokenPatient: return input.principal.patient
        case .tokenPurposeOfUse: return input.principal.purposeOfUse
        case .requestKind: return input.interaction.kind.rawValue
        case .requestMethod: return input.interaction.method
        case .requestType: return input.interaction.resourceType
        case .requestID: return input.interaction.id
        case .requestOperation: return input.interaction.operation
        case .pdmpPractitionerNPI: facts.loadPDMP(input); return facts.practitionerNPI
        case .pdmpPractitionerDEA: facts.loadPDMP(input); return facts.practitionerDEA
        case .pdmpPractitionerRole: facts.loadPDMP(input); return facts.practitionerRole
        case .pdmpDelegateNPI: facts.loadPDMP(input); return facts.delegateNPI
        case .pdmpDelegateDEA: facts.loadPDMP(input); return facts.delegateDEA
        case .networkMTLSSubject: return input.mtlsSubject
        case .timeWeekday: return Attribute.weekdays[facts.time(input).weekday]
        default: return nil
        }
    }

    /// The value of a set attribute (empty when absent).
    func set(_ input: PolicyInput, _ facts: inout LazyFacts) -> StringSetView {
        switch self {
        case .clientRoles: facts.loadClient(input); return .array(facts.clientRoles)
        case .clientNPIs: facts.loadClient(input); return .array(facts.clientNPIs)
        case .clientDEAs: facts.loadClient(input); return .array(facts.clientDEAs)
        case .clientNetworks: facts.loadClient(input); return .array(facts.clientNetworks)
        case .tokenScopes: return .array(input.principal.scopes)
        case .requestParameters: return .parameterNames(input.interaction.parameters)
        case .requestPatients: return .set(input.interaction.patients)
        case .requestReturnedTypes: return .set(input.interaction.returnedTypes)
        case .pdmpPractitionerIdentifiers: facts.loadPDMP(input); return .array(facts.practitionerIdentifiers)
        case .pdmpOrganizationIdentifiers: facts.loadPDMP(input); return .array(facts.organizationIdentifiers)
        case .pdmpDelegateIdentifiers: facts.loadPDMP(input); return .array(facts.delegateIdentifiers)
        default: return .empty
        }
    }

    /// The value of a boolean or presence attribute; nil when absent (e.g. `pdmp.animal_owner` on a
    /// request that is not a `$pdmp-history`).
    func bool(_ input: PolicyInput, _ facts: inout LazyFacts) -> Bool? {
        switch self {
        case .clientRegistered: facts.loadClient(input); return facts.clientRegistered
        case .pdmpRequest: facts.loadPDMP(input); return facts.isPDMP
        case .pdmpAnimalOwner: facts.loadPDMP(input); return facts.animalOwner
        case .pdmpPreStage: facts.loadPDMP(input); return facts.preStage
        case .pdmpDelegate: facts.loadPDMP(input); return facts.hasDelegate
        default: return nil
        }
    }

    /// The value of an integer attribute.
    func int(_ input: PolicyInput, _ facts: inout LazyFacts) -> Int? {
        self == .timeHour ? facts.time(input).hour : nil
    }
}
