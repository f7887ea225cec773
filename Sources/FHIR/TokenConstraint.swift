// Checking a resource against granular scope constraints (SMART 2.2 §2.3; attack case SCP-05 (b)): a read
// under `patient/MedicationRequest.rs?category=...|outpatient` must return only a resource that matches.
// Only token parameters of the PDMP types are evaluated; anything else is "cannot tell", which callers
// treat as a mismatch (fail closed).
public import GatewayCore

/// Evaluates token search parameters against a resource.
public enum TokenConstraint {
    /// Element paths of the token parameters the gateway can evaluate, per type (R4 search-parameters.json).
    static let paths: [String: [String: [String]]] = [
        "MedicationRequest": [
            "category": ["category"], "status": ["status"], "intent": ["intent"], "priority": ["priority"],
            "code": ["medicationCodeableConcept"],
        ],
        "MedicationDispense": ["status": ["status"], "type": ["type"], "code": ["medicationCodeableConcept"]],
        "MedicationAdministration": ["status": ["status"], "code": ["medicationCodeableConcept"]],
        "MedicationStatement": ["status": ["status"], "category": ["category"], "code": ["medicationCodeableConcept"]],
        "Observation": ["category": ["category"], "code": ["code"], "status": ["status"]],
        "Condition": ["category": ["category"], "code": ["code"], "clinical-status": ["clinicalStatus"]],
        "AllergyIntolerance": ["code": ["code"], "clinical-status": ["clinicalStatus"]],
    ]

    /// True when `resource` satisfies every constraint (each parameter's values OR-ed, parameters AND-ed);
    /// nil when a constraint is not one the gateway can evaluate.
    public static func matches(_ resource: JSONValue, constraints: [SearchParameter]) -> Bool? {
        matching(resource, constraints: constraints)
    }

    /// `matches(_:constraints:)` for any readable JSON value (the tree or the byte index).
    static func matching<Value: JSONReading>(_ resource: Value, constraints: [SearchParameter]) -> Bool? {
        guard let type = resource["resourceType"]?.stringValue else { return nil }
        for constraint in constraints {
            guard constraint.modifier == nil, constraint.chain == nil,
                let path = paths[type]?[constraint.name]
            else { return nil }
            var found = false
            PatientCompartment.forEachValue(at: path[...], in: resource) { element in
                if !found { found = constraint.values.contains { token(element, matches: $0) } }
            }
            if !found { return false }
        }
        return true
    }

    // R4 search.html token matching: `code`, `system|code`, `|code` (no system), `system|` (any code).
    static func token<Value: JSONReading>(_ element: Value, matches value: String) -> Bool {
        let system: String?
        let code: String
        if let bar = value.firstIndex(of: "|") {
            system = String(value[..<bar])
            code = String(value[value.index(after: bar)...])
        } else {
            system = nil
            code = value
        }
        if let primitive = element.stringValue {
            return system == nil || system == "" ? primitive == code : false
        }
        guard element.isObject else { return false }
        if let codings = element["coding"]?.elements {
            return codings.contains { coding(ofObject: $0, system: system, code: code) }
        }
        return coding(ofObject: element, system: system, code: code)
    }

    private static func coding<Value: JSONReading>(ofObject coding: Value, system: String?, code: String) -> Bool {
        let codingSystem = coding["system"]?.stringValue
        let codingCode = coding["code"]?.stringValue
        switch system {
        case nil: return codingCode == code
        case ""?: return codingSystem == nil && codingCode == code
        case let system?: return codingSystem == system && (code.isEmpty || codingCode == code)
        }
    }
}
