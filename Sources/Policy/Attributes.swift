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

/// Per-decision facts computed on first use: the parsed client address and the local time.
struct LazyFacts {
    let timeZone: TimeZone
    private var addressState: UInt8 = 0  // 0 unknown, 1 parsed, 2 invalid
    private var address = IPAddress(high: 0, low: 0)
    private var timeParts: (hour: Int, weekday: Int)?

    init(timeZone: TimeZone) {
        self.timeZone = timeZone
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
        let offset = timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: input.now))
        let local = Int((input.now + Double(offset)).rounded(.down))
        let days = local >= 0 ? local / 86400 : (local - 86399) / 86400
        let seconds = local - days * 86400
        // 1970-01-01 was a Thursday (index 3 when Monday is 0).
        let parts = (hour: seconds / 3600, weekday: ((days % 7) + 7 + 3) % 7)
        timeParts = parts
        return parts
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
        case .clientKind: return input.principal.client?.kind.rawValue
        case .clientStatus: return input.principal.client?.status.rawValue
        case .tokenIssuer: return input.principal.issuer
        case .tokenPatient: return input.principal.patient
        case .tokenPurposeOfUse: return input.principal.purposeOfUse
        case .requestKind: return input.interaction.kind.rawValue
        case .requestMethod: return input.interaction.method
        case .requestType: return input.interaction.resourceType
        case .requestID: return input.interaction.id
        case .requestOperation: return input.interaction.operation
        case .pdmpPractitionerNPI: return input.interaction.pdmpHistory?.authorizedPractitioner?.npi
        case .pdmpPractitionerDEA: return input.interaction.pdmpHistory?.authorizedPractitioner?.dea
        case .pdmpPractitionerRole: return input.interaction.pdmpHistory?.practitionerRole
        case .pdmpDelegateNPI: return input.interaction.pdmpHistory?.delegate?.npi
        case .pdmpDelegateDEA: return input.interaction.pdmpHistory?.delegate?.dea
        case .networkMTLSSubject: return input.mtlsSubject
        case .timeWeekday: return Attribute.weekdays[facts.time(input).weekday]
        default: return nil
        }
    }

    /// The value of a set attribute (empty when absent).
    func set(_ input: PolicyInput) -> StringSetView {
        switch self {
        case .clientRoles: return Self.view(input.principal.client?.roles)
        case .clientNPIs: return Self.view(input.principal.client?.npis)
        case .clientDEAs: return Self.view(input.principal.client?.deas)
        case .clientNetworks: return Self.view(input.principal.client?.networks)
        case .tokenScopes: return .array(input.principal.scopes)
        case .requestParameters: return .parameterNames(input.interaction.parameters)
        case .requestPatients: return .set(input.interaction.patients)
        case .requestReturnedTypes: return .set(input.interaction.returnedTypes)
        case .pdmpPractitionerIdentifiers:
            return Self.view(input.interaction.pdmpHistory?.authorizedPractitioner?.identifiers)
        case .pdmpOrganizationIdentifiers:
            return Self.view(input.interaction.pdmpHistory?.organizationIdentifiers)
        case .pdmpDelegateIdentifiers:
            return Self.view(input.interaction.pdmpHistory?.delegate?.identifiers)
        default: return .empty
        }
    }

    private static func view(_ values: [String]?) -> StringSetView {
        guard let values else { return .empty }
        return .array(values)
    }

    /// The value of a boolean or presence attribute; nil when absent (e.g. `pdmp.animal_owner` on a
    /// request that is not a `$pdmp-history`).
    func bool(_ input: PolicyInput) -> Bool? {
        switch self {
        case .clientRegistered: return input.principal.client != nil
        case .pdmpRequest: return input.interaction.pdmpHistory != nil
        case .pdmpAnimalOwner: return input.interaction.pdmpHistory?.hasAnimalOwner
        case .pdmpPreStage: return input.interaction.pdmpHistory?.preStage
        case .pdmpDelegate: return input.interaction.pdmpHistory?.delegate != nil
        default: return nil
        }
    }

    /// The value of an integer attribute.
    func int(_ input: PolicyInput, _ facts: inout LazyFacts) -> Int? {
        self == .timeHour ? facts.time(input).hour : nil
    }
}
