// Patient-context enforcement on the request (issue #5 item 3; attack-cases §0 rule 6). For a token with a
// patient context, every patient the request names must be allowed, and a request that cannot be decided
// from the request alone is allowed only with obligations the pipeline must carry out.

/// What the pipeline must still do for an allowed request.
public struct CompartmentObligations: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// Inspect the upstream response with `ResponseInspector` before releasing it.
    public static let checkResponse = CompartmentObligations(rawValue: 1 << 0)
    /// Before an update, patch or delete of a resource whose id says nothing about its patient, read the
    /// stored resource and check its compartment (FHIR-18 (b)); deny with `FHIRRequestError.accessDenied`.
    public static let preReadTarget = CompartmentObligations(rawValue: 1 << 1)
}

/// The request-level compartment decision.
public enum CompartmentDecision: Sendable, Hashable {
    case allowed(CompartmentObligations)
    case denied(FHIRRequestError)

    public var isAllowed: Bool {
        if case .allowed = self { return true }
        return false
    }
}

/// Checks an `Interaction` against the patients a token may see.
public enum CompartmentCheck {
    /// Decides a request for a patient-context token.
    ///
    /// Denials are `FHIRRequestError.accessDenied` (403) whenever the answer could otherwise depend on
    /// whether the target exists, and a 403 naming the rule when the request shape itself is not allowed.
    /// - Parameters:
    ///   - interaction: the classified request; for a batch, call this per entry (the Bundle itself is
    ///     allowed with `checkResponse`); a transaction is denied as a whole if any entry is.
    ///   - allowedPatients: the patient ids the token may see (its `patient` claim); must not be empty.
    public static func requestDecision(_ interaction: Interaction, allowedPatients: Set<String>) -> CompartmentDecision
    {
        guard !allowedPatients.isEmpty else { return .denied(.accessDenied) }  // SCP-04: no context, no access
        guard interaction.patients.isSubset(of: allowedPatients) else { return .denied(.accessDenied) }
        switch interaction.kind {
        case .capabilities:
            return .allowed([])
        case .read, .vread, .historyInstance:
            return .allowed(.checkResponse)
        case .searchType:
            return decideSearch(interaction)
        case .searchCompartment:
            return .allowed(.checkResponse)
        case .searchSystem, .historyType, .historySystem:
            return .denied(.refused("Searches across patients are not available to a patient-context token"))
        case .create:
            return decideCreate(interaction)
        case .update, .patch, .delete:
            return decideInstanceWrite(interaction)
        case .conditionalUpdate, .conditionalDelete, .conditionalPatch:
            // FHIR-19: criteria that do not name the patient could match another patient's resource.
            // The body naming the patient is not enough: the criteria select what is written.
            return pinned(interaction.parameters, type: interaction.resourceType)
                ? .allowed(.checkResponse) : .denied(criteriaDenial)
        case .batch:
            return .allowed(.checkResponse)
        case .transaction:
            return decideTransaction(interaction, allowedPatients: allowedPatients)
        case .operation:
            return .denied(.refused("Operations are not available to a patient-context token"))
        }
    }

    private static let criteriaDenial = FHIRRequestError.refused(
        "Searches and conditional requests must name the token's patient")

    private static func namesPatient(_ interaction: Interaction) -> Bool { !interaction.patients.isEmpty }

    // A search must be pinned to the patient by a patient parameter (FHIR-04), unless it targets a type
    // outside every compartment (master data), which the response check then filters.
    private static func decideSearch(_ interaction: Interaction) -> CompartmentDecision {
        guard let type = interaction.resourceType else { return .denied(criteriaDenial) }
        if PatientCompartment.isMember(type) && !namesPatient(interaction) { return .denied(criteriaDenial) }
        return .allowed(.checkResponse)
    }

    private static func decideCreate(_ interaction: Interaction) -> CompartmentDecision {
        guard let type = interaction.resourceType else { return .denied(criteriaDenial) }
        // The If-None-Exist search must itself be pinned to the patient (FHIR-19 (c)).
        if let criteria = interaction.ifNoneExist, !pinned(criteria, type: type) { return .denied(criteriaDenial) }
        if PatientCompartment.isMember(type) && type != "Patient" && !namesPatient(interaction) {
            return .denied(.refused("A new resource must reference the token's patient"))
        }
        return .allowed(.checkResponse)
    }

    // True when one parameter selects only resources of named patients: every value of it is a Patient
    // (the values were checked against the allowed patients with the rest of `Interaction.patients`).
    private static func pinned(_ parameters: [SearchParameter], type: String?) -> Bool {
        guard let type else { return false }
        return parameters.contains { parameter in
            guard parameter.chain == nil else { return false }
            if type == "Patient" && parameter.name == "_id" { return parameter.modifier == nil }
            guard let info = SearchParameterTable.info(parameter.name, of: type), info.canNamePatient,
                parameter.modifier == nil || parameter.modifier == "Patient"
            else { return false }
            return parameter.values.allSatisfy { value in
                if !value.contains("/") { return info.bareIdIsPatient || parameter.modifier == "Patient" }
                return value.hasPrefix("Patient/") || value.contains("/Patient/")
            }
        }
    }

    private static func decideInstanceWrite(_ interaction: Interaction) -> CompartmentDecision {
        if interaction.resourceType == "Patient" { return .allowed(.checkResponse) }
        return .allowed([.checkResponse, .preReadTarget])
    }

    private static func decideTransaction(_ interaction: Interaction, allowedPatients: Set<String>)
        -> CompartmentDecision
    {
        var obligations: CompartmentObligations = .checkResponse
        for entry in interaction.entries {
            switch requestDecision(entry, allowedPatients: allowedPatients) {
            case .denied(let error): return .denied(error)
            case .allowed(let more): obligations.formUnion(more)
            }
        }
        return .allowed(obligations)
    }

    /// Adds the patient constraint to a search (or rewrites the search's own single patient parameter to it),
    /// for policies whose obligation is to narrow rather than deny (attack-cases "Decisions already taken"
    /// (3)). Nil when the type has no patient parameter the gateway can add.
    public static func narrowed(_ interaction: Interaction, to patient: String) -> Interaction? {
        // `Patient/{id}/{type}` is confined to that patient by its path (FHIR R4 §3.1.1.5.2 compartments):
        // nothing to add, provided no parameter names another patient.
        if interaction.kind == .searchCompartment {
            return interaction.id == patient && interaction.patients == [patient] ? interaction : nil
        }
        guard interaction.kind == .searchType, let type = interaction.resourceType else { return nil }
        var result = interaction
        // Already pinned to exactly this patient: adding the parameter again would make the search (and the
        // upstream's paging links, which repeat it) one the classifier refuses as ambiguous.
        if pins(interaction, to: patient, type: type) { return interaction }
        let constraint: SearchParameter
        if type == "Patient" {
            constraint = SearchParameter(name: "_id", values: [patient])
        } else if let name = narrowingParameter(for: type) {
            constraint = SearchParameter(name: name, values: ["Patient/" + patient])
        } else {
            return nil
        }
        // A search that already names one patient with the same plain parameter gets that parameter
        // rewritten, not a second one: the upstream writes every parameter it used into its `next` links,
        // and the classifier refuses a repeated patient parameter (ARCHITECTURE §1 step 2), so an appended
        // copy made page 2 of every narrowed search a 400.
        if let index = result.parameters.firstIndex(where: {
            $0.name == constraint.name && ($0.modifier == nil || $0.modifier == "Patient") && $0.chain == nil
                && $0.values.count == 1
        }), result.parameters.filter({ $0.name == constraint.name }).count == 1,
            interaction.patients.isSubset(of: [patient])
        {
            result.parameters[index] = constraint
        } else {
            result.parameters.append(constraint)
        }
        result.patients.insert(patient)
        return result
    }

    // True when the search has the narrowing parameter itself (no modifier, no chain) naming only `patient`.
    private static func pins(_ interaction: Interaction, to patient: String, type: String) -> Bool {
        let name = type == "Patient" ? "_id" : narrowingParameter(for: type)
        return interaction.parameters.contains { parameter in
            parameter.name == name && parameter.modifier == nil && parameter.chain == nil && !parameter.values.isEmpty
                && parameter.values.allSatisfy { $0 == patient || $0 == "Patient/" + patient }
        }
    }

    // The search parameter that selects "resources about this patient": `patient` where the type has it,
    // else the compartment's `subject`.
    private static func narrowingParameter(for type: String) -> String? {
        let names = PatientCompartment.parameters(for: type)
        if SearchParameterTable.info("patient", of: type) != nil { return "patient" }
        return names.contains("subject") ? "subject" : names.first
    }
}
