// Interaction → required permission letters (SPEC-DIGEST §2.6, our table; open questions 12/13 decided
// here: conditional interactions also need `s`, since their criteria are a search; operations are gateway
// policy, see below).
import FHIR

/// One permission an interaction needs on one type (`*` = on every type).
struct ScopeRequirement: Sendable, Hashable {
    enum Role: Sendable, Hashable {
        /// The search itself: granular constraints can be met or narrowed.
        case search
        /// A read by id: granular constraints become read obligations.
        case read
        /// Types a search returns besides its target (`_include`/`_revinclude`): need `r`, no granular scope.
        case included
        /// Anything else (writes): granular scopes do not grant it.
        case other
    }

    var type: String
    var permission: SMARTScope.Permissions
    var role: Role

    static func requirements(for interaction: Interaction) -> [ScopeRequirement] {
        let type = interaction.resourceType ?? "*"
        switch interaction.kind {
        case .capabilities, .batch:
            return []
        case .read, .vread, .historyInstance:
            return [.init(type: type, permission: .read, role: .read)]
        case .historyType:
            return [.init(type: type, permission: .search, role: .other)]
        case .historySystem:
            return [.init(type: "*", permission: .search, role: .other)]
        case .searchType:
            let included = interaction.returnedTypes.subtracting([type]).sorted()
            return [.init(type: type, permission: .search, role: .search)]
                + included.map { .init(type: $0, permission: .read, role: .included) }
        case .searchCompartment, .searchSystem:
            return interaction.returnedTypes.sorted().map { .init(type: $0, permission: .search, role: .other) }
        case .create:
            let conditional = interaction.ifNoneExist != nil
            return [.init(type: type, permission: .create, role: .other)]
                + (conditional ? [.init(type: type, permission: .search, role: .other)] : [])
        case .update, .patch:
            return [.init(type: type, permission: .update, role: .other)]
        case .delete:
            return [.init(type: type, permission: .delete, role: .other)]
        case .conditionalUpdate, .conditionalPatch:
            return [
                .init(type: type, permission: .update, role: .other),
                .init(type: type, permission: .search, role: .other),
            ]
        case .conditionalDelete:
            return [
                .init(type: type, permission: .delete, role: .other),
                .init(type: type, permission: .search, role: .other),
            ]
        case .transaction:
            // Granular obligations could not say which entry they bind, so in a transaction only
            // unconstrained scopes grant (role `.other`).
            return interaction.entries.flatMap(requirements(for:)).map {
                ScopeRequirement(type: $0.type, permission: $0.permission, role: .other)
            }
        case .operation:
            return operationRequirements(interaction)
        }
    }

    // SMART defines no scope for operations (§2.2, open question 12). `$pdmp-history` and `$process-message`
    // are searches of a patient's dispensing history: they need `s` on Patient and MedicationDispense.
    // Other allow-listed operations need `r` on the instance, `s` on the type, or `*.s` at system level.
    private static func operationRequirements(_ interaction: Interaction) -> [ScopeRequirement] {
        if interaction.operation == "pdmp-history" || interaction.operation == "process-message" {
            return [
                .init(type: "Patient", permission: .search, role: .other),
                .init(type: "MedicationDispense", permission: .search, role: .other),
            ]
        }
        switch interaction.operationLevel {
        case .instance?: return [.init(type: interaction.resourceType ?? "*", permission: .read, role: .other)]
        case .type?: return [.init(type: interaction.resourceType ?? "*", permission: .search, role: .other)]
        default: return [.init(type: "*", permission: .search, role: .other)]
        }
    }
}

/// Matches requirements against the scopes of one level.
struct ScopeMatcher {
    let scopes: [SMARTScope]
    let level: SMARTScope.Level
    let interaction: Interaction

    func grant(_ requirements: [ScopeRequirement]) -> Result<ScopeGrant, ScopeError> {
        var grant = ScopeGrant(level: level)
        for requirement in requirements {
            let matching = scopes.filter {
                $0.permissions.contains(requirement.permission)
                    && (requirement.type == "*" ? $0.resourceType == "*" : $0.covers(requirement.type))
            }
            // An unconstrained scope grants outright.
            if matching.contains(where: { $0.constraints.isEmpty }) { continue }
            guard !matching.isEmpty, apply(matching, for: requirement, to: &grant) else {
                return .failure(missing(requirement))
            }
        }
        return .success(grant)
    }

    private func missing(_ requirement: ScopeRequirement) -> ScopeError {
        let scope = "\(level.rawValue)/\(requirement.type).\(requirement.permission.letters)"
        return ScopeError(missingScope: scope, message: "The token lacks the scope \(scope)")
    }

    // Only granular scopes match: SCP-05.
    private func apply(_ scopes: [SMARTScope], for requirement: ScopeRequirement, to grant: inout ScopeGrant) -> Bool {
        switch requirement.role {
        case .search:
            if scopes.contains(where: satisfiedByRequest) { return true }
            // (f) granular scopes and includes are not combinable; (c) a contradicting value is denied.
            let hasIncludes = interaction.parameters.contains { $0.name == "_include" || $0.name == "_revinclude" }
            guard !hasIncludes, let narrowing = Self.combined(scopes) else { return false }
            let contradicts = narrowing.contains { constraint in
                interaction.parameters.contains { $0.name == constraint.name }
            }
            guard !contradicts else { return false }
            grant.narrowing.append(contentsOf: narrowing)
            return true
        case .read:
            guard let constraints = Self.combined(scopes) else { return false }
            grant.readConstraints.append(contentsOf: constraints)
            return true
        case .included, .other:
            return false
        }
    }

    // The request already carries every constraint of the scope, exactly (one value, no modifier).
    private func satisfiedByRequest(_ scope: SMARTScope) -> Bool {
        scope.constraints.allSatisfy { constraint in
            interaction.parameters.contains {
                $0.name == constraint.name && $0.modifier == nil && $0.chain == nil && $0.values == [constraint.value]
            }
        }
    }

    /// The search parameters that express "matches one of these scopes": one scope's constraints, or, for
    /// several scopes constraining the same single parameter, that parameter with their values OR-ed.
    /// Nil when the scopes cannot be expressed as one search (different parameters would need `_filter`).
    static func combined(_ scopes: [SMARTScope]) -> [SearchParameter]? {
        if scopes.count == 1 {
            return scopes[0].constraints.map { SearchParameter(name: $0.name, values: [$0.value]) }
        }
        guard scopes.allSatisfy({ $0.constraints.count == 1 }),
            Set(scopes.map { $0.constraints[0].name }).count == 1
        else { return nil }
        // Values are joined as an OR list; commas inside a value are escaped (R4 search.html §3.1.1.5.7).
        let values = scopes.map { $0.constraints[0].value.replacingCommas() }
        return [SearchParameter(name: scopes[0].constraints[0].name, values: values)]
    }
}

extension String {
    fileprivate func replacingCommas() -> String {
        split(separator: ",", omittingEmptySubsequences: false).joined(separator: "\\,")
    }
}
