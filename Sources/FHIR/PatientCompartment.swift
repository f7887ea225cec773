// Which patients a resource belongs to, following the R4 Patient CompartmentDefinition (SPEC-DIGEST §3).
// A resource is in Patient X's compartment when any of its compartment parameters refers to Patient X
// (§3.1: OR across parameters). The gateway is stricter when it releases data: see `ResponseInspector`.
public import GatewayCore

/// One compartment parameter of a resource type (a row of SPEC-DIGEST §3.3).
public struct CompartmentParameter: Sendable, Hashable {
    /// The search parameter name, e.g. `subject`.
    public var name: String
    /// Element paths below the resource, e.g. `[["performer", "actor"]]`.
    public var paths: [[String]]
    /// The SearchParameter target types; nil means any type.
    public var targets: Set<String>?

    /// True when a bare id (`subject=123`) can only mean a Patient (or a Group): targets ⊆ {Patient, Group}.
    public var bareIdIsPatient: Bool {
        guard let targets else { return false }
        return targets.isSubset(of: ["Patient", "Group"])
    }
}

/// What a resource says about its patients.
public struct CompartmentMembership: Sendable, Hashable {
    /// Ids of every Patient the compartment parameters reference literally.
    public var patients: Set<String>
    /// References in compartment elements that might name a patient but cannot be resolved to a Patient id:
    /// identifier-only references, contained Patients, `urn:uuid:` and foreign absolute URLs (FHIR-16).
    public var unresolved: Int
}

/// The R4 Patient compartment table and reference extraction.
public enum PatientCompartment {
    /// Compartment parameters per resource type, parsed once from `tableText`.
    static let table: [String: [CompartmentParameter]] = parseTable()

    /// The distinct element paths of each member type's compartment parameters.
    static let uniquePaths: [String: [[String]]] = table.mapValues { parameters in
        var seen: Set<[String]> = []
        return parameters.flatMap(\.paths).filter { seen.insert($0).inserted }
    }

    /// The compartment parameter names of `type`, in table order; empty when the type is in no patient
    /// compartment (Medication, Practitioner, Organization, Location, ...).
    public static func parameters(for type: String) -> [String] {
        table[type]?.map(\.name) ?? []
    }

    /// The compartment parameter `name` of `type`, if it is one.
    public static func parameter(_ name: String, of type: String) -> CompartmentParameter? {
        table[type]?.first { $0.name == name }
    }

    /// True when resources of `type` can be in a patient compartment (Patient itself included).
    public static func isMember(_ type: String) -> Bool { table[type] != nil }

    /// Every type that can be in a patient compartment (the types `Patient/{id}/*` can return).
    public static var memberTypes: Set<String> { Set(table.keys) }

    /// The ids of the Patients a resource's compartment parameters reference; for a Patient, its own id plus
    /// its `link.other` Patients. Nil when the resource's type is outside every patient compartment.
    ///
    /// - Parameter bases: absolute base URLs (e.g. the upstream and public FHIR bases) whose references count
    ///   as local; any other absolute reference is unresolved.
    public static func patients(in resource: JSONValue, bases: [String] = []) -> Set<String>? {
        membership(of: resource, bases: bases)?.patients
    }

    /// Like `patients(in:bases:)`, but also counts references that cannot be resolved to a Patient id.
    public static func membership(of resource: JSONValue, bases: [String] = []) -> CompartmentMembership? {
        membership(of: resource, bases: bases, aliases: [:])
    }

    /// `membership(of:bases:)`, where `aliases` maps reference strings that the response itself defines
    /// (e.g. a collection Bundle's `urn:uuid:` fullUrls of its Patients) to Patient ids.
    static func membership<Value: JSONReading>(of resource: Value, bases: [String], aliases: [String: String])
        -> CompartmentMembership?
    {
        guard resource.isObject, let type = resource["resourceType"]?.stringValue, table[type] != nil else {
            return nil
        }
        var result = CompartmentMembership(patients: [], unresolved: 0)
        if type == "Patient", let id = resource["id"]?.stringValue {
            result.patients.insert(id)
        }
        // Several parameters share a path (MedicationDispense `subject` and `patient`): walk each path once.
        for path in uniquePaths[type] ?? [] {
            forEachValue(at: path[...], in: resource) { reference in
                collect(reference, from: resource, bases: bases, aliases: aliases, into: &result)
            }
        }
        return result
    }

    // Applies `body` to every value reached by `path`, flattening arrays at each step (FHIRPath semantics).
    static func forEachValue<Value: JSONReading>(
        at path: ArraySlice<String>, in value: Value, _ body: (Value) -> Void
    ) {
        if let items = value.elements {
            for item in items { forEachValue(at: path, in: item, body) }
            return
        }
        guard let first = path.first else {
            body(value)
            return
        }
        guard let child = value[first] else { return }
        forEachValue(at: path.dropFirst(), in: child, body)
    }

    // Classifies one Reference element.
    private static func collect<Value: JSONReading>(
        _ element: Value, from resource: Value, bases: [String], aliases: [String: String],
        into result: inout CompartmentMembership
    ) {
        guard element.isObject else { return }
        let declaredType = element["type"]?.stringValue
        guard let literal = element["reference"]?.stringValue else {
            // Identifier-only (logical) reference: a patient unless the element says it is another type.
            if declaredType == nil || declaredType == "Patient" { result.unresolved += 1 }
            return
        }
        if let id = aliases[literal] {
            result.patients.insert(id)
            return
        }
        switch FHIRReference.parse(literal, bases: bases) {
        case .resource(let type, let id):
            if type == "Patient" { result.patients.insert(id) }
        case .contained(let id):
            // A contained Patient does not create a compartment (§3.1), and it hides who the patient is.
            if containedType(id, in: resource) == "Patient" { result.unresolved += 1 }
        case .unresolvable:
            if declaredType == nil || declaredType == "Patient" { result.unresolved += 1 }
        }
    }

    private static func containedType<Value: JSONReading>(_ id: String, in resource: Value) -> String? {
        guard let contained = resource["contained"]?.elements else { return nil }
        for item in contained where item["id"]?.stringValue == id {
            return item["resourceType"]?.stringValue
        }
        return nil
    }

    private static func parseTable() -> [String: [CompartmentParameter]] {
        var table: [String: [CompartmentParameter]] = [:]
        for line in tableText.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count == 4 else { continue }
            let paths = fields[2].split(separator: "|").map { $0.split(separator: ".").map(String.init) }
            let targets: Set<String>? = fields[3] == "*" ? nil : Set(fields[3].split(separator: ",").map(String.init))
            let parameter = CompartmentParameter(name: String(fields[1]), paths: paths, targets: targets)
            table[String(fields[0]), default: []].append(parameter)
        }
        // Patient/[id] is the focus of its own compartment (SPEC-DIGEST §3.2); R4 lists only `link`.
        return table
    }
}

/// A literal FHIR reference, resolved as far as the gateway can without fetching anything.
public enum FHIRReference: Sendable, Hashable {
    /// `Type/id`, `Type/id/_history/v`, or an absolute URL under a known base.
    case resource(type: String, id: String)
    /// `#id`: a contained resource.
    case contained(String)
    /// `urn:uuid:`, a foreign absolute URL, or anything malformed.
    case unresolvable

    /// Resolves `reference` against the known absolute `bases` (given without a trailing slash).
    public static func parse(_ reference: String, bases: [String] = []) -> FHIRReference {
        let utf8 = reference.utf8
        if utf8.first == UInt8(ascii: "#") {
            let id = reference.dropFirst()
            return FHIRSyntax.isValidID(id) ? .contained(String(id)) : .unresolvable
        }
        // Hot path in response inspection: byte scans instead of String searching.
        if let colon = utf8.firstIndex(of: UInt8(ascii: ":")) {
            guard utf8[colon...].starts(with: "://".utf8) else { return .unresolvable }  // urn:uuid:, urn:oid:
            for base in bases where reference.hasPrefix(base) {
                let rest = reference.utf8.dropFirst(base.utf8.count)
                guard rest.first == UInt8(ascii: "/") else { continue }
                return parseRelative(Substring(rest.dropFirst()))
            }
            return .unresolvable
        }
        return parseRelative(Substring(reference))
    }

    private static func parseRelative(_ text: Substring) -> FHIRReference {
        // `Type/id` or `Type/id/_history/vid`, found by hand (hot in response inspection: no array of parts).
        let utf8 = text.utf8
        guard let slash = utf8.firstIndex(of: UInt8(ascii: "/")) else { return .unresolvable }
        let typePart = Substring(utf8[..<slash])
        let rest = utf8[utf8.index(after: slash)...]
        let idPart: Substring
        if let second = rest.firstIndex(of: UInt8(ascii: "/")) {
            idPart = Substring(rest[..<second])
            let history = rest[rest.index(after: second)...]
            guard history.starts(with: "_history/".utf8) else { return .unresolvable }
            let version = Substring(history.dropFirst("_history/".utf8.count))
            guard FHIRSyntax.isValidID(version) else { return .unresolvable }  // no further `/`: not an id byte
        } else {
            idPart = Substring(rest)
        }
        guard FHIRSyntax.isValidID(idPart) else { return .unresolvable }
        let type = String(typePart)
        guard ResourceTypes.isKnown(type) else { return .unresolvable }
        return .resource(type: type, id: String(idPart))
    }
}

/// Lexical rules of FHIR R4 (datatypes.html).
public enum FHIRSyntax {
    /// FHIR `id`: `[A-Za-z0-9\-\.]{1,64}`.
    public static func isValidID(_ id: some StringProtocol) -> Bool {
        let bytes = id.utf8
        // `.` and `..` match the R4 pattern but are dot-segments in every URL (RFC 3986 §5.2.4).
        guard !bytes.isEmpty, bytes.count <= 64, !bytes.allSatisfy({ $0 == 0x2E }) else { return false }
        return bytes.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A) || byte == 0x2D
                || byte == 0x2E
        }
    }
}
