// The interaction classifier (ARCHITECTURE §1 step 2, issue #5 item 1): method + canonical path + query
// (+ body) → `Interaction`. URL forms follow FHIR R4 http.html. Everything the gateway cannot reason about
// is refused here, before any scope, policy or upstream sees it.
import GatewayCore

/// Turns an HTTP request into the `Interaction` it means, or refuses it.
public struct FHIRClassifier: Sendable {
    /// Path segments of the FHIR base, e.g. `["fhir"]` for `/fhir`; matched case-sensitively.
    public var baseSegments: [String]
    /// Absolute base URLs (no trailing slash) whose references count as local, e.g. the public base
    /// `https://gw.example:8443/fhir` and the upstream base. Other absolute references are foreign.
    public var localBases: [String]
    /// Operations (without `$`) the gateway forwards. Default: `pdmp-history` and `process-message`.
    /// `$graphql` is refused whatever this says (it resolves references across patients, FHIR-11).
    public var allowedOperations: Set<String>

    /// Headers and parameters that make some frameworks execute another method than the wire method.
    public static let methodOverrideHeaders: Set<String> = [
        "x-http-method-override", "x-http-method",
        "x-method-override",
    ]

    public init(
        baseSegments: [String] = ["fhir"], localBases: [String] = [],
        allowedOperations: Set<String> = ["pdmp-history", "process-message"]
    ) {
        self.baseSegments = baseSegments
        self.localBases = localBases.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        self.allowedOperations = allowedOperations
    }

    /// Classifies one request.
    ///
    /// - Parameters:
    ///   - method: the wire method, exactly as received (methods are case-sensitive: `get` is refused).
    ///   - target: the origin-form request-target, e.g. `/fhir/MedicationDispense?patient=pt-alice`.
    ///   - contentType: the `Content-Type` header, if any.
    ///   - body: the whole request body.
    ///   - ifNoneExist: the `If-None-Exist` header of a conditional create, if any.
    ///   - headerNames: the names of all request headers (to refuse method-override headers, PATH-05).
    /// - Throws: `FHIRRequestError` (400, 403, 405, 415 or 422) when the request is refused.
    public func classify(
        method: String, target: String, contentType: String? = nil, body: [UInt8] = [],
        ifNoneExist: String? = nil, headerNames: [String] = []
    ) throws(FHIRRequestError) -> Interaction {
        // PATH-05: the gateway authorizes the wire method only; an override would make the upstream run
        // another one, so a request carrying one is refused rather than guessed at.
        for name in headerNames where Self.methodOverrideHeaders.contains(name.lowercased()) {
            throw .invalid("Method override headers are not accepted")
        }
        let method = try Self.checkMethod(method)
        let (segments, query) = try CanonicalTarget.split(target, base: baseSegments)
        let request = RawRequest(
            method: method, segments: segments, query: query ?? "", contentType: contentType,
            body: body, ifNoneExist: ifNoneExist)
        return try classify(request, allowBundle: true)
    }

    // The parsed pieces of one request (top-level or a batch entry).
    struct RawRequest {
        var method: String
        var segments: [String]
        var query: Substring
        var contentType: String?
        var body: [UInt8]
        var ifNoneExist: String?
        /// A body already parsed (batch entries carry their resource as JSON).
        var parsedBody: JSONValue? = nil
    }

    static func checkMethod(_ method: String) throws(FHIRRequestError) -> String {
        switch method {
        case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE": return method
        case _ where method.uppercased() != method:
            throw .invalid("HTTP methods are case-sensitive")  // PATH-06
        default: throw .methodNotAllowed("The method is not supported on the FHIR API", allow: "GET, HEAD, POST, PUT, PATCH, DELETE")
        }
    }

    func classify(_ request: RawRequest, allowBundle: Bool) throws(FHIRRequestError) -> Interaction {
        let segments = request.segments
        if request.method == "GET" || request.method == "HEAD" || request.method == "DELETE" {
            guard request.body.isEmpty else { throw .invalid("This request must not have a body") }
        }
        guard let first = segments.first else { return try classifyBase(request, allowBundle: allowBundle) }
        if first == "metadata" && segments.count == 1 {
            guard request.method == "GET" || request.method == "HEAD" else {
                throw .methodNotAllowed("metadata only supports GET", allow: "GET, HEAD")
            }
            return Interaction(kind: .capabilities, method: request.method)
        }
        if first == "_history" {
            throw .refused("System-level history is not available through this gateway")  // FHIR-10
        }
        if first.hasPrefix("$") { return try classifyOperation(request, type: nil, id: nil) }
        guard ResourceTypes.isKnown(first) else { throw .invalid("Unknown resource type") }
        switch segments.count {
        case 1: return try classifyType(request, type: first)
        case 2: return try classifyTypeChild(request, type: first, child: segments[1])
        case 3: return try classifyInstanceChild(request, type: first, id: segments[1], child: segments[2])
        case 4: return try classifyVersion(request, type: first, id: segments[1], segments: segments)
        default: throw .invalid("Unknown FHIR URL form")
        }
    }

    // `[base]`: system search (GET) or batch/transaction (POST).
    private func classifyBase(_ request: RawRequest, allowBundle: Bool) throws(FHIRRequestError) -> Interaction {
        switch request.method {
        case "GET", "HEAD":
            return try classifySystemSearch(request)
        case "POST":
            guard allowBundle else { throw .invalid("Bundles cannot be nested") }  // BND-03
            return try classifyBundle(request)
        default:
            throw .methodNotAllowed("Only GET and POST are defined on the FHIR base", allow: "GET, HEAD, POST")
        }
    }

    // `[base]/T`: search, create, conditional update/delete/patch.
    private func classifyType(_ request: RawRequest, type: String) throws(FHIRRequestError) -> Interaction {
        switch request.method {
        case "GET", "HEAD":
            let parameters = try searchParameters(request.query, type: type)
            return try searchInteraction(kind: .searchType, method: request.method, type: type, parameters)
        case "POST":
            return try classifyCreate(request, type: type)
        case "PUT", "DELETE", "PATCH":
            return try classifyConditional(request, type: type)
        default:
            throw .methodNotAllowed("Method not allowed on a resource type", allow: "GET, HEAD, POST, PUT, PATCH, DELETE")
        }
    }

    // `[base]/T/_search`, `[base]/T/_history`, `[base]/T/$op`, `[base]/T/id`.
    private func classifyTypeChild(_ request: RawRequest, type: String, child: String) throws(FHIRRequestError)
        -> Interaction
    {
        switch child {
        case "_search":
            guard request.method == "POST" else { throw .methodNotAllowed("_search requires POST", allow: "POST") }
            return try classifyPostSearch(request, type: type)
        case "_history":
            guard request.method == "GET" || request.method == "HEAD" else {
                throw .methodNotAllowed("History requires GET", allow: "GET, HEAD")
            }
            let parameters = try historyParameters(request.query)
            return Interaction(
                kind: .historyType, method: request.method, resourceType: type, parameters: parameters,
                returnedTypes: [type])
        case _ where child.hasPrefix("$"):
            return try classifyOperation(request, type: type, id: nil)
        default:
            return try classifyInstance(request, type: type, id: child)
        }
    }

    // `[base]/T/id`: read, update, patch, delete.
    private func classifyInstance(_ request: RawRequest, type: String, id: String) throws(FHIRRequestError)
        -> Interaction
    {
        guard FHIRSyntax.isValidID(id) else { throw .invalid("Invalid resource id") }
        var interaction = Interaction(
            kind: .read, method: request.method, resourceType: type, id: id,
            returnedTypes: [type])
        if type == "Patient" { interaction.patients = [id] }
        switch request.method {
        case "GET", "HEAD":
            interaction.parameters = try readParameters(request.query, type: type)
        case "PUT":
            try requireNoQuery(request)
            interaction.kind = .update
            try applyWriteBody(request, to: &interaction, expectedID: id)
        case "PATCH":
            try requireNoQuery(request)
            interaction.kind = .patch
            try applyPatchBody(request, to: &interaction)
        case "DELETE":
            try requireNoQuery(request)
            interaction.kind = .delete
        default:
            throw .methodNotAllowed("Method not allowed on a resource instance", allow: "GET, HEAD, PUT, PATCH, DELETE")
        }
        return interaction
    }

    // `[base]/T/id/_history`, `[base]/T/id/$op`, and the compartment search `[base]/Patient/id/T`.
    private func classifyInstanceChild(_ request: RawRequest, type: String, id: String, child: String)
        throws(FHIRRequestError) -> Interaction
    {
        guard FHIRSyntax.isValidID(id) else { throw .invalid("Invalid resource id") }
        if child.hasPrefix("$") { return try classifyOperation(request, type: type, id: id) }
        if child == "_history" {
            guard request.method == "GET" || request.method == "HEAD" else {
                throw .methodNotAllowed("History requires GET", allow: "GET, HEAD")
            }
            let parameters = try historyParameters(request.query)
            return Interaction(
                kind: .historyInstance, method: request.method, resourceType: type, id: id,
                parameters: parameters, patients: type == "Patient" ? [id] : [], returnedTypes: [type])
        }
        return try classifyCompartmentSearch(request, type: type, id: id, target: child)
    }

    // `[base]/T/id/_history/vid`.
    private func classifyVersion(_ request: RawRequest, type: String, id: String, segments: [String])
        throws(FHIRRequestError) -> Interaction
    {
        guard segments[2] == "_history", FHIRSyntax.isValidID(id), FHIRSyntax.isValidID(segments[3]) else {
            throw .invalid("Unknown FHIR URL form")
        }
        guard request.method == "GET" || request.method == "HEAD" else { throw .methodNotAllowed("vread requires GET", allow: "GET, HEAD") }
        let parameters = try readParameters(request.query, type: type)
        return Interaction(
            kind: .vread, method: request.method, resourceType: type, id: id, versionId: segments[3],
            parameters: parameters, patients: type == "Patient" ? [id] : [], returnedTypes: [type])
    }

    // `[base]/Patient/id/T` (R4 http.html "Variant Searches").
    private func classifyCompartmentSearch(_ request: RawRequest, type: String, id: String, target: String)
        throws(FHIRRequestError) -> Interaction
    {
        guard type == "Patient" else {
            throw .refused("Only Patient compartment searches are supported")  // FHIR-05 (e)
        }
        guard request.method == "GET" || request.method == "HEAD" else {
            throw .methodNotAllowed("Compartment search requires GET", allow: "GET, HEAD")
        }
        // `Patient/{id}/*` never gets here: `*` is not a path byte (Router and CanonicalTarget refuse it
        // with 400), so every compartment search names one member type the scopes can be checked against.
        guard ResourceTypes.isKnown(target) else { throw .invalid("Unknown resource type") }
        guard PatientCompartment.isMember(target), target != "Patient" else {
            throw .invalid("This resource type is not in the Patient compartment")  // FHIR-05 (d)
        }
        let parameters = try searchParameters(request.query, type: target)
        var interaction = try searchInteraction(
            kind: .searchCompartment, method: request.method, type: target, parameters)
        interaction.resourceType = target
        interaction.compartmentTargetType = target
        interaction.id = id
        interaction.patients.insert(id)
        interaction.returnedTypes.insert(target)
        return interaction
    }

    /// Writes take no search parameters; only `_format` (JSON only) and `_pretty` are understood.
    func requireNoQuery(_ request: RawRequest) throws(FHIRRequestError) {
        for pair in try FormDecoding.pairs(request.query) {
            let parameter = try parameter(key: pair.key, value: pair.value, type: nil, context: .history)
            guard parameter.name == "_format" || parameter.name == "_pretty" else {
                throw .invalid("This interaction does not take query parameters")
            }
        }
    }
}
