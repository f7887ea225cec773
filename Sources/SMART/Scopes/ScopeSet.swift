// Scope enforcement (issue #5 item 2; SPEC-DIGEST §2.6): which permission each interaction needs, and
// whether one level of the token's scopes grants all of them. Patient-level scopes never combine with
// user- or system-level scopes in one decision (attack-cases §0 rule 5), and grant nothing without a usable
// patient context (SCP-04).
public import FHIR

/// The scopes a token carries, parsed.
public struct ScopeSet: Sendable, Hashable {
    /// The resource scopes that parsed.
    public let scopes: [SMARTScope]
    /// Strings that looked like resource scopes but did not parse: they grant nothing (SCP-02). Report them.
    public let invalid: [String]
    /// Non-resource scopes (`openid`, `launch`, `__custom`, ...); they grant no FHIR access here.
    public let other: [String]

    /// Parses a list of scope strings.
    public init(_ strings: [String]) {
        var scopes: [SMARTScope] = []
        var invalid: [String] = []
        var other: [String] = []
        for string in strings {
            do {
                scopes.append(try SMARTScope.parse(string))
            } catch .notAResourceScope {
                other.append(string)
            } catch {
                invalid.append(string)
            }
        }
        self.scopes = scopes
        self.invalid = invalid
        self.other = other
    }

    /// Parses a space-separated scope string (the token's `scope` claim).
    public init(string: String) {
        self.init(string.split(separator: " ").map(String.init))
    }

    /// Decides whether the scopes permit `interaction`.
    ///
    /// - Parameters:
    ///   - interaction: the classified request. For a batch, the Bundle itself is permitted and each entry
    ///     must be decided on its own (§2.2); for a transaction every entry must be permitted by one level.
    ///   - patientContext: the token's `patient` claim; patient-level scopes count only when it is a valid
    ///     FHIR id (no `Patient/` prefix, no spaces: SCP-04 (e) pinned to 403).
    /// - Returns: `.allowed` with the level that granted and any granular obligations, or `.denied`.
    public func permits(_ interaction: Interaction, patientContext: String?) -> ScopeDecision {
        let requirements = ScopeRequirement.requirements(for: interaction)
        let contextIsUsable = patientContext.map { FHIRSyntax.isValidID($0) } ?? false
        var levels: [SMARTScope.Level] = [.user, .system]
        if contextIsUsable { levels.insert(.patient, at: 0) }
        if requirements.isEmpty {
            // Capabilities and the batch envelope need no scope; the grant names the token's own level.
            let level = levels.first { level in scopes.contains { $0.level == level } } ?? .system
            return .allowed(ScopeGrant(level: level, patientContext: level == .patient ? patientContext : nil))
        }
        var firstDenial: ScopeError?
        for level in levels {
            let candidates = scopes.filter { $0.level == level }
            guard !candidates.isEmpty else { continue }
            switch ScopeMatcher(scopes: candidates, level: level, interaction: interaction).grant(requirements) {
            case .success(var grant):
                grant.patientContext = level == .patient ? patientContext : nil
                return .allowed(grant)
            case .failure(let error):
                firstDenial = firstDenial ?? error
            }
        }
        if let firstDenial { return .denied(firstDenial) }
        if !contextIsUsable && scopes.contains(where: { $0.level == .patient }) {
            return .denied(ScopeError(missingScope: nil, message: "Patient-level scopes need a patient context"))
        }
        let missing = requirements.first.map { "system/\($0.type).\($0.permission.letters)" }
        return .denied(ScopeError(missingScope: missing, message: "The token has no scope for this request"))
    }
}

/// The result of a scope check.
public enum ScopeDecision: Sendable, Hashable {
    case allowed(ScopeGrant)
    case denied(ScopeError)

    public var isAllowed: Bool {
        if case .allowed = self { return true }
        return false
    }
}

/// What an allowed decision obliges the pipeline to do.
public struct ScopeGrant: Sendable, Hashable {
    /// The level whose scopes granted the request. `.patient` means the compartment check is mandatory;
    /// a token with a `patient` claim gets the compartment check whatever level granted (issue #5 item 3).
    public var level: SMARTScope.Level
    /// The patient context, for `.patient` grants.
    public var patientContext: String?
    /// Granular constraints to add to the upstream search (SCP-05 (a): narrow, don't trust the upstream).
    public var narrowing: [SearchParameter]
    /// Granular constraints a read's resource must satisfy (SCP-05 (b)): verify, e.g. with an `_id` search
    /// carrying these parameters, and deny with the not-found-identical 403 when it does not match.
    public var readConstraints: [SearchParameter]

    public init(
        level: SMARTScope.Level, patientContext: String? = nil, narrowing: [SearchParameter] = [],
        readConstraints: [SearchParameter] = []
    ) {
        self.level = level
        self.patientContext = patientContext
        self.narrowing = narrowing
        self.readConstraints = readConstraints
    }
}
