// Request bodies: which media types the gateway inspects (FHIR-20), POST `_search` form bodies (FHIR-15),
// resource bodies of writes and the references they carry (FHIR-16, FHIR-18), JSON Patch, and conditional
// criteria (FHIR-19).
import GatewayCore

extension FHIRClassifier {
    // MARK: Media types

    /// The media type without parameters, lowercased; 415 for any parameter but `charset=utf-8` and
    /// `fhirVersion=4.0` (FHIR-15 (d), FHIR-20 (f)).
    static func mediaType(_ contentType: String) throws(FHIRRequestError) -> String {
        let parts = contentType.split(separator: ";").map { $0.trimmingSpaces().lowercased() }
        guard let type = parts.first, !type.isEmpty else { throw .unsupportedMediaType("Missing media type") }
        for parameter in parts.dropFirst() where parameter != "charset=utf-8" && parameter != "fhirversion=4.0" {
            throw .unsupportedMediaType("Only UTF-8 bodies are supported")
        }
        return type
    }

    /// Parses a JSON resource body (`application/fhir+json` or `application/json`) strictly.
    func jsonBody(_ request: RawRequest, mediaTypes: Set<String> = ["application/fhir+json", "application/json"])
        throws(FHIRRequestError) -> JSONValue
    {
        if let parsed = request.parsedBody { return parsed }
        guard let contentType = request.contentType else {
            throw .unsupportedMediaType("A Content-Type is required")  // FHIR-20 (c)
        }
        guard mediaTypes.contains(try Self.mediaType(contentType)) else {
            throw .unsupportedMediaType("Only FHIR JSON bodies are supported")  // FHIR-20 (a)(b)
        }
        // FHIR-20 (e): a byte-order mark is refused, not skipped (one canonical body form).
        guard !request.body.starts(with: [0xEF, 0xBB, 0xBF]) else {
            throw .invalid("The body must not start with a BOM")
        }
        do {
            return try JSONValue.parse(request.body)
        } catch {
            throw .invalid("The body is not valid JSON (duplicate member names are refused)")  // FHIR-20 (d)
        }
    }

    /// A JSON resource body whose `resourceType` must be `type`.
    func resourceBody(_ request: RawRequest, type: String) throws(FHIRRequestError) -> JSONValue {
        let resource = try jsonBody(request)
        guard resource["resourceType"]?.stringValue == type else {
            throw .invalid("The body's resourceType does not match the URL")  // FHIR-18 (c)
        }
        return resource
    }

    // MARK: POST _search

    /// `POST [base]/T/_search`: form body parameters merged with the query (FHIR-15; R4 http.html §3.1.0.9).
    func classifyPostSearch(_ request: RawRequest, type: String) throws(FHIRRequestError) -> Interaction {
        var text = request.query
        if !request.body.isEmpty {
            guard let contentType = request.contentType,
                try Self.mediaType(contentType) == "application/x-www-form-urlencoded"
            else { throw .unsupportedMediaType("_search bodies must be application/x-www-form-urlencoded") }
            guard let form = String(validating: request.body, as: UTF8.self) else {
                throw .invalid("The form body is not UTF-8")
            }
            text = text.isEmpty ? Substring(form) : Substring(String(text) + "&" + form)
        }
        let parameters = try searchParameters(text, type: type)
        return try searchInteraction(kind: .searchType, method: request.method, type: type, parameters)
    }

    /// `GET [base]?...`: system search; `_type` lists the types, otherwise any type can come back (`*`).
    func classifySystemSearch(_ request: RawRequest) throws(FHIRRequestError) -> Interaction {
        let parameters = try FormDecoding.pairs(request.query).map {
            (pair) throws(FHIRRequestError) -> SearchParameter in
            try parameter(key: pair.key, value: pair.value, type: nil, context: .system)
        }
        var interaction = Interaction(kind: .searchSystem, method: request.method, parameters: parameters)
        let types = parameters.filter { $0.name == "_type" }.flatMap(\.values)
        interaction.returnedTypes = types.isEmpty ? ["*"] : Set(types)
        return interaction
    }

    // MARK: Writes

    /// `POST [base]/T`: create, with `If-None-Exist` criteria when given (conditional create).
    func classifyCreate(_ request: RawRequest, type: String) throws(FHIRRequestError) -> Interaction {
        try requireNoQuery(request)
        var interaction = Interaction(kind: .create, method: request.method, resourceType: type, returnedTypes: [type])
        try applyWriteBody(request, to: &interaction, expectedID: nil)
        if let header = request.ifNoneExist {
            // FHIR-19 (c): the criteria are a search, and name patients like one.
            let criteria = try searchParameters(Substring(header), type: type)
            try Self.requireCriteria(criteria)
            interaction.ifNoneExist = criteria
            interaction.patients.formUnion(try patients(in: criteria, type: type))
        }
        return interaction
    }

    /// `PUT|DELETE|PATCH [base]/T?criteria`.
    func classifyConditional(_ request: RawRequest, type: String) throws(FHIRRequestError) -> Interaction {
        let criteria = try searchParameters(request.query, type: type)
        try Self.requireCriteria(criteria)
        let kind: InteractionKind =
            switch request.method {
            case "PUT": .conditionalUpdate
            case "DELETE": .conditionalDelete
            default: .conditionalPatch
            }
        var interaction = Interaction(
            kind: kind, method: request.method, resourceType: type, parameters: criteria,
            returnedTypes: [type])
        switch kind {
        case .conditionalUpdate: try applyWriteBody(request, to: &interaction, expectedID: nil)
        case .conditionalPatch: try applyPatchBody(request, to: &interaction)
        default: break
        }
        interaction.patients.formUnion(try patients(in: criteria, type: type))
        return interaction
    }

    private static func requireCriteria(_ criteria: [SearchParameter]) throws(FHIRRequestError) {
        let shaping: Set<String> = ["_format", "_pretty", "_summary", "_elements", "_count", "_sort", "_total"]
        guard
            criteria.contains(where: {
                !shaping.contains($0.name) && !$0.name.hasPrefix("_include")
                    && $0.name != "_revinclude"
            })
        else { throw .invalid("Conditional interactions need search criteria") }
    }

    /// Checks a create/update body and collects the patients it references (FHIR-16, FHIR-18).
    func applyWriteBody(_ request: RawRequest, to interaction: inout Interaction, expectedID: String?)
        throws(FHIRRequestError)
    {
        guard let type = interaction.resourceType else { throw .invalid("A resource type is required") }
        let resource = try resourceBody(request, type: type)
        if let expectedID {
            // R4 http.html §3.1.0.4: the body id must equal the URL id (FHIR-18 (a)).
            guard resource["id"]?.stringValue == expectedID else {
                throw .invalid("The body's id does not match the URL")
            }
        }
        guard type != "Bundle" else { throw .refused("Bundles can only be posted to the base as batch or transaction") }
        interaction.patients.formUnion(try bodyPatients(resource))
        interaction.resource = resource
    }

    /// The patients a resource body references; 422 when a compartment reference cannot be resolved
    /// (identifier-only, contained Patient, `urn:uuid:` or foreign URL; FHIR-16).
    func bodyPatients(_ resource: JSONValue) throws(FHIRRequestError) -> Set<String> {
        guard let membership = PatientCompartment.membership(of: resource, bases: localBases) else { return [] }
        guard membership.unresolved == 0 else {
            throw .unprocessable("Patient references must be literal references to a Patient on this server")
        }
        if resource["resourceType"]?.stringValue == "Patient", let id = resource["id"]?.stringValue {
            guard FHIRSyntax.isValidID(id) else { throw .invalid("Invalid resource id") }
        }
        return membership.patients
    }

    // MARK: JSON Patch

    /// `PATCH` with `application/json-patch+json` (RFC 6902). Values written into compartment elements are
    /// checked like a write body; `move`/`copy` and edits of `id`, `resourceType` or `contained` are refused
    /// because their effect on references cannot be judged without the stored resource.
    func applyPatchBody(_ request: RawRequest, to interaction: inout Interaction) throws(FHIRRequestError) {
        guard let type = interaction.resourceType else { throw .invalid("A resource type is required") }
        let patch = try jsonBody(request, mediaTypes: ["application/json-patch+json"])
        guard case .array(let operations) = patch else { throw .invalid("A JSON Patch must be an array") }
        let compartmentRoots = Set((PatientCompartment.table[type] ?? []).flatMap { $0.paths.compactMap(\.first) })
        for operation in operations {
            guard let op = operation["op"]?.stringValue, let path = operation["path"]?.stringValue else {
                throw .invalid("Invalid JSON Patch operation")
            }
            let root = path.split(separator: "/").first.map(String.init) ?? ""
            guard ["add", "replace", "remove", "test"].contains(op) else {
                throw .refused("JSON Patch move and copy are not supported")
            }
            guard !["id", "resourceType", "contained", ""].contains(root) else {
                throw .refused("This JSON Patch path is not supported")
            }
            guard op == "add" || op == "replace", compartmentRoots.contains(root), let value = operation["value"]
            else { continue }
            interaction.patients.formUnion(try patchedPatients(type: type, root: root, path: path, value: value))
        }
        interaction.resource = patch
    }

    // Rebuilds a one-element resource around the patched value so the compartment walk can read it.
    private func patchedPatients(type: String, root: String, path: String, value: JSONValue)
        throws(FHIRRequestError) -> Set<String>
    {
        let depth = path.split(separator: "/").count
        guard depth <= 2 else { throw .refused("JSON Patch below a patient reference is not supported") }
        let isListItem = depth == 2
        let element: JSONValue = isListItem ? .array([value]) : value
        let probe = JSONValue.object(JSONObject.make([("resourceType", .string(type)), (root, element)]))
        // A reference nested deeper (e.g. `performer.actor`) is found by the same walk.
        return try bodyPatients(probe)
    }
}
