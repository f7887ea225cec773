// Search parameters: strict parsing, validation against the known parameters of the type, patient
// extraction in every form (attack-cases §0 rule 6) and the types `_include`/`_revinclude` can return.
import GatewayCore

extension FHIRClassifier {
    /// Parameters the gateway refuses by default, with the reason's status. `_has` is 403 (a reverse chain
    /// over hidden resources is an oracle, FHIR-06); the rest are 400 "unsupported parameter" (FHIR-12).
    static let refusedParameters: [String: Int] = [
        "_has": 403, "_filter": 400, "_query": 400, "_list": 400, "_text": 400, "_content": 400,
        "_contained": 400, "_containedType": 400, "_method": 400, "_graphql": 400,
    ]

    static let plainModifiers: Set<String> = [
        "missing", "exact", "contains", "text", "not", "above", "below", "in", "not-in", "of-type", "identifier",
    ]

    /// Parses and validates the parameters of a search on `type` (nil: system-level, or `Patient/x/*`).
    func searchParameters(_ query: Substring, type: String?) throws(FHIRRequestError) -> [SearchParameter] {
        try FormDecoding.pairs(query).map { (pair) throws(FHIRRequestError) -> SearchParameter in
            try parameter(key: pair.key, value: pair.value, type: type, context: .search)
        }
    }

    /// Parameters on a read or vread: only result-shaping ones. Search parameters on a read are ignored by
    /// servers, so accepting them would only mislead policy about which patient a read names.
    func readParameters(_ query: Substring, type: String) throws(FHIRRequestError) -> [SearchParameter] {
        let parameters = try searchParameters(query, type: type)
        for parameter in parameters where !["_format", "_pretty", "_summary", "_elements"].contains(parameter.name) {
            throw .invalid("Search parameters are not allowed on a read")
        }
        return parameters
    }

    /// Parameters of a history interaction (R4 http.html §3.1.0.10: `_count`, `_since`, `_at`).
    func historyParameters(_ query: Substring) throws(FHIRRequestError) -> [SearchParameter] {
        try FormDecoding.pairs(query).map { (pair) throws(FHIRRequestError) -> SearchParameter in
            try parameter(key: pair.key, value: pair.value, type: nil, context: .history)
        }
    }

    enum ParameterContext { case search, history, system }

    func parameter(key: String, value: String, type: String?, context: ParameterContext) throws(FHIRRequestError)
        -> SearchParameter
    {
        let (name, modifier, chain) = Self.splitKey(key)
        if let status = Self.refusedParameters[name] {
            throw status == 403
                ? .refused("The parameter \(name) is not allowed through this gateway")
                : .invalid("Unsupported parameter \(name)")
        }
        let values = try Self.splitValues(value)
        let parameter = SearchParameter(name: name, modifier: modifier, chain: chain, values: values)
        if name == "_format" {
            try Self.checkFormat(parameter)
            return parameter
        }
        switch context {
        case .history:
            guard ["_count", "_offset", "_since", "_at", "_pretty"].contains(name), modifier == nil, chain == nil else {
                throw .invalid("Unsupported history parameter \(name)")
            }
        case .system:
            try checkSystemParameter(parameter)
        case .search:
            try checkSearchParameter(parameter, type: type)
        }
        return parameter
    }

    private func checkSystemParameter(_ parameter: SearchParameter) throws(FHIRRequestError) {
        if parameter.name == "_type" {
            guard parameter.modifier == nil, parameter.chain == nil,
                parameter.values.allSatisfy(ResourceTypes.isKnown)
            else { throw .invalid("_type must list known resource types") }
            return
        }
        guard parameter.name != "_include", parameter.name != "_revinclude" else {
            throw .invalid("_include and _revinclude need a resource type")
        }
        try checkSearchParameter(parameter, type: nil)
    }

    private func checkSearchParameter(_ parameter: SearchParameter, type: String?) throws(FHIRRequestError) {
        let name = parameter.name
        if Self.control.contains(name) { return try Self.checkControl(parameter, type: type) }
        let info: SearchParameterInfo?
        if let type {
            info = SearchParameterTable.info(name, of: type)
        } else {
            info = SearchParameterTable.common.contains(name) ? SearchParameterTable.info(name, of: "Resource") : nil
        }
        guard let info else { throw .invalid("Unknown search parameter \(name)") }
        if let modifier = parameter.modifier {
            let isTypeModifier = info.isReference && ResourceTypes.isKnown(modifier)
            guard isTypeModifier || Self.plainModifiers.contains(modifier) else {
                throw .invalid("Unknown modifier on \(name)")
            }
        }
        if let chain = parameter.chain { try checkChain(chain, on: parameter, info: info) }
    }

    // Chains are followed one level, through references that cannot reach a patient (FHIR-06 rationale:
    // a chain through a patient reference searches other patients' records by their attributes).
    private func checkChain(_ chain: String, on parameter: SearchParameter, info: SearchParameterInfo)
        throws(FHIRRequestError)
    {
        guard info.isReference else { throw .invalid("Only reference parameters can be chained") }
        var targets = info.referenceTargets
        if let modifier = parameter.modifier, ResourceTypes.isKnown(modifier) { targets = [modifier] }
        guard let targets, !targets.contains("Patient"), !targets.contains("Group") else {
            throw .refused("Chained parameters through patient references are not allowed")
        }
        guard !chain.contains("."), !chain.contains(":") else { throw .refused("Only single-level chains are allowed") }
        for target in targets where SearchParameterTable.info(chain, of: target) == nil {
            throw .invalid("Unknown chained parameter \(chain)")
        }
    }

    static let control: Set<String> = SearchParameterTable.control

    private static func checkControl(_ parameter: SearchParameter, type: String?) throws(FHIRRequestError) {
        let values = parameter.values
        switch parameter.name {
        case "_include", "_revinclude":
            guard parameter.modifier == nil || parameter.modifier == "iterate", parameter.chain == nil else {
                throw .invalid("Unsupported modifier on \(parameter.name)")
            }
        case "_count", "_offset":
            guard parameter.modifier == nil, values.count == 1, let count = Int(values[0]), count >= 0 else {
                throw .invalid("\(parameter.name) must be a non-negative integer")
            }
        case "_summary":
            guard values.count == 1, ["true", "false", "text", "data", "count"].contains(values[0]) else {
                throw .invalid("Invalid _summary")
            }
        case "_total":
            guard values.count == 1, ["none", "estimate", "accurate"].contains(values[0]) else {
                throw .invalid("Invalid _total")
            }
        case "_pretty":
            guard values.count == 1, ["true", "false"].contains(values[0]) else { throw .invalid("Invalid _pretty") }
        case "_sort":
            for value in values {
                let name = value.hasPrefix("-") ? String(value.dropFirst()) : value
                let known =
                    type.map { SearchParameterTable.info(name, of: $0) != nil }
                    ?? SearchParameterTable.common.contains(name)
                guard known else { throw .invalid("Unknown _sort parameter") }
            }
        case "_elements":
            for value in values where !value.utf8.allSatisfy({ $0 == 0x5F || $0 == 0x2E || isAlphanumeric($0) }) {
                throw .invalid("Invalid _elements")
            }
        default:
            break
        }
        if parameter.modifier != nil && parameter.name != "_include" && parameter.name != "_revinclude" {
            throw .invalid("Modifiers are not allowed on \(parameter.name)")
        }
    }

    // FHIR-20 (c): only JSON is inspected, so only JSON may be asked for.
    private static func checkFormat(_ parameter: SearchParameter) throws(FHIRRequestError) {
        let json: Set<String> = ["json", "application/json", "application/fhir+json"]
        guard parameter.modifier == nil, parameter.chain == nil, parameter.values.count == 1,
            json.contains(parameter.values[0])
        else { throw .unsupportedMediaType("Only JSON is supported") }
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A)
    }

    /// `name[:modifier][.chain]`. A `.` inside the name part of `_include`-like names does not occur in R4.
    static func splitKey(_ key: String) -> (String, String?, String?) {
        var base = Substring(key)
        var chain: String?
        if let dot = base.firstIndex(of: ".") {
            chain = String(base[base.index(after: dot)...])
            base = base[..<dot]
        }
        guard let colon = base.firstIndex(of: ":") else { return (String(base), nil, chain) }
        return (String(base[..<colon]), String(base[base.index(after: colon)...]), chain)
    }

    /// Splits on commas that are not escaped as `\,` (R4 search.html §3.1.1.5.7); escapes are kept so
    /// that the parameter can be re-serialised exactly. Empty values are refused (servers ignore them).
    static func splitValues(_ value: String) throws(FHIRRequestError) -> [String] {
        var values: [String] = []
        var current = ""
        var escaped = false
        for character in value {
            if character == "," && !escaped {
                values.append(current)
                current = ""
                continue
            }
            escaped = character == "\\" && !escaped
            current.append(character)
        }
        values.append(current)
        guard values.allSatisfy({ !$0.isEmpty }) else { throw .invalid("Search parameter values must not be empty") }
        return values
    }
}

// MARK: - Patients and returned types

extension FHIRClassifier {
    /// Builds a search interaction: patients from every patient-naming parameter, returned types from the
    /// target type and every `_include`/`_revinclude`.
    func searchInteraction(kind: InteractionKind, method: String, type: String?, _ parameters: [SearchParameter])
        throws(FHIRRequestError) -> Interaction
    {
        var interaction = Interaction(kind: kind, method: method, resourceType: type, parameters: parameters)
        if let type {
            interaction.patients = try patients(in: parameters, type: type)
            interaction.returnedTypes = try returnedTypes(type: type, parameters)
        } else if parameters.contains(where: { $0.name == "_include" || $0.name == "_revinclude" }) {
            throw .invalid("_include and _revinclude need a resource type")
        }
        return interaction
    }

    /// Every patient id named by the parameters of a search on `type`.
    func patients(in parameters: [SearchParameter], type: String) throws(FHIRRequestError) -> Set<String> {
        var patients: Set<String> = []
        var seen: Set<String> = []
        for parameter in parameters {
            let namesPatient = type == "Patient" && parameter.name == "_id"
            guard let info = SearchParameterTable.info(parameter.name, of: type),
                namesPatient || info.canNamePatient
            else { continue }
            // ARCHITECTURE §1 step 2: a repeated patient-naming parameter is ambiguous.
            guard seen.insert(parameter.name).inserted else {
                throw .invalid("A patient parameter may appear only once")
            }
            if namesPatient {
                guard parameter.modifier == nil, parameter.values.allSatisfy(FHIRSyntax.isValidID) else {
                    throw .invalid("Invalid _id")
                }
                patients.formUnion(parameter.values)
                continue
            }
            patients.formUnion(try patientValues(of: parameter, info: info))
        }
        return patients
    }

    private func patientValues(of parameter: SearchParameter, info: SearchParameterInfo) throws(FHIRRequestError)
        -> Set<String>
    {
        if parameter.chain != nil { return [] }  // checkChain already refused chains that reach patients
        var restrictedType: String?
        if let modifier = parameter.modifier {
            guard ResourceTypes.isKnown(modifier) else {
                // `:missing`, `:identifier`, `:not` ... select patients the gateway cannot name.
                throw .refused("This modifier cannot be used on a patient parameter")
            }
            guard info.referenceTargets?.contains(modifier) ?? true else { throw .invalid("Invalid type modifier") }
            restrictedType = modifier
        }
        var patients: Set<String> = []
        for value in parameter.values {
            if let id = try patientID(in: value, info: info, restrictedType: restrictedType) { patients.insert(id) }
        }
        return patients
    }

    /// The patient a reference search value names, nil when it names another type.
    func patientID(in value: String, info: SearchParameterInfo, restrictedType: String?) throws(FHIRRequestError)
        -> String?
    {
        if !value.contains("/") {
            guard FHIRSyntax.isValidID(value) else { throw .invalid("Invalid reference value") }
            if let restrictedType { return restrictedType == "Patient" ? value : nil }
            guard info.bareIdIsPatient else {
                throw .invalid("This parameter needs a typed reference (Type/id)")
            }
            return value
        }
        switch FHIRReference.parse(value, bases: localBases) {
        case .resource(let type, let id):
            guard restrictedType == nil || restrictedType == type, info.referenceTargets?.contains(type) ?? true else {
                throw .invalid("The reference type does not fit the parameter")
            }
            return type == "Patient" ? id : nil
        case .contained, .unresolvable:
            throw .invalid("The reference cannot be resolved on this server")
        }
    }

    /// The target type plus every type `_include` / `_revinclude` (and their `:iterate` forms) can add.
    func returnedTypes(type: String, _ parameters: [SearchParameter]) throws(FHIRRequestError) -> Set<String> {
        var returned: Set<String> = [type]
        let includes = parameters.filter { $0.name == "_include" || $0.name == "_revinclude" }
        // Plain includes apply to the matches; iterate ones apply to everything returned, until stable.
        for parameter in includes where parameter.modifier == nil {
            for value in parameter.values {
                returned.formUnion(try includedTypes(parameter.name, value, sources: [type]))
            }
        }
        let iterating = includes.filter { $0.modifier == "iterate" }
        var changed = !iterating.isEmpty
        while changed {
            let before = returned.count
            for parameter in iterating {
                for value in parameter.values {
                    returned.formUnion(try includedTypes(parameter.name, value, sources: returned))
                }
            }
            changed = returned.count != before
        }
        return returned
    }

    // `Source:param[:Target]`.
    private func includedTypes(_ name: String, _ value: String, sources: Set<String>) throws(FHIRRequestError)
        -> Set<String>
    {
        let parts = value.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 || parts.count == 3, ResourceTypes.isKnown(parts[0]),
            let info = SearchParameterTable.info(parts[1], of: parts[0]), info.isReference
        else { throw .invalid("Invalid \(name) value") }
        var targets = info.referenceTargets
        if parts.count == 3 {
            guard ResourceTypes.isKnown(parts[2]), targets?.contains(parts[2]) ?? true else {
                throw .invalid("Invalid \(name) target")
            }
            targets = [parts[2]]
        }
        guard let targets else { throw .refused("\(name) needs an explicit target type for this parameter") }
        if name == "_include" {
            // Only resources the search returns can be followed.
            return sources.contains(parts[0]) ? targets : []
        }
        return targets.isDisjoint(with: sources) ? [] : [parts[0]]
    }
}
