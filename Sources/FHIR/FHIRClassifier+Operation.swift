// Operations (`$op`). Only allow-listed operations pass (FHIR-09, FHIR-11); `$pdmp-history` and
// `$process-message` are parsed into `PDMPHistoryRequest` (SPEC-DIGEST §4.2, §4.5).
public import GatewayCore

extension FHIRClassifier {
    /// The PDMP IG canonical of `$pdmp-history`, which a PDMP request message names as its event.
    static let pdmpHistoryCanonical = "http://hl7.org/fhir/us/pdmp/OperationDefinition/pdmp-history"

    /// Types a `$pdmp-history` result Bundle can hold (SPEC-DIGEST §4.3 slices).
    static let pdmpResultTypes: Set<String> = [
        "Patient", "MedicationDispense", "MedicationAdministration", "Organization", "Medication",
        "MedicationRequest", "Practitioner", "PractitionerRole", "DetectedIssue",
    ]

    func classifyOperation(_ request: RawRequest, type: String?, id: String?) throws(FHIRRequestError) -> Interaction {
        let name = String(request.segments.last!.dropFirst())
        guard !name.isEmpty, name.utf8.allSatisfy({ $0 == 0x2D || $0 == 0x2E || $0 == 0x5F || isAlnum($0) }) else {
            throw .invalid("Invalid operation name")
        }
        // `$graphql` resolves references across patients inside one request (FHIR-11): never forwarded.
        guard name != "graphql", allowedOperations.contains(name) else {
            throw .refused("The operation is not allowed through this gateway")
        }
        let level: OperationLevel = id != nil ? .instance : (type != nil ? .type : .system)
        var interaction = Interaction(
            kind: .operation, method: request.method, resourceType: type, id: id,
            operation: name, operationLevel: level)
        switch name {
        case "pdmp-history":
            // SPEC-DIGEST §4.2 / open question 22: `[base]/$pdmp-history` and `[base]/Patient/$pdmp-history`.
            guard request.method == "POST", id == nil, type == nil || type == "Patient" else {
                throw .methodNotAllowed("$pdmp-history is POST [base]/$pdmp-history or [base]/Patient/$pdmp-history", allow: "POST")
            }
            try requireNoOperationQuery(request)
            let parameters = try resourceBody(request, type: "Parameters")
            interaction.pdmpHistory = try PDMPHistoryParser.parse(parameters)
            interaction.resource = parameters
            interaction.returnedTypes = Self.pdmpResultTypes
        case "process-message":
            guard request.method == "POST", id == nil, type == nil else {
                throw .methodNotAllowed("$process-message is POST [base]/$process-message", allow: "POST")
            }
            try requireNoOperationQuery(request)
            let body = try jsonBody(request)
            interaction.pdmpHistory = try PDMPHistoryParser.parseMessage(body)
            interaction.resource = body
            interaction.returnedTypes = Self.pdmpResultTypes.union(["Bundle", "MessageHeader", "Parameters"])
        default:
            try classifyGenericOperation(request, into: &interaction)
        }
        if type == "Patient", let id { interaction.patients.insert(id) }
        return interaction
    }

    // An operation an operator allow-listed: its query parameters are kept, its body must be FHIR JSON.
    private func classifyGenericOperation(_ request: RawRequest, into interaction: inout Interaction)
        throws(FHIRRequestError)
    {
        interaction.parameters = try FormDecoding.pairs(request.query).map {
            (pair) throws(FHIRRequestError) -> SearchParameter in
            let (name, modifier, chain) = Self.splitKey(pair.key)
            return SearchParameter(
                name: name, modifier: modifier, chain: chain, values: try Self.splitValues(pair.value))
        }
        if !request.body.isEmpty { interaction.resource = try jsonBody(request) }
        if let type = interaction.resourceType { interaction.returnedTypes = [type] }
    }

    private func requireNoOperationQuery(_ request: RawRequest) throws(FHIRRequestError) {
        guard request.query.isEmpty else { throw .invalid("This operation takes its parameters in the body") }
    }

    private func isAlnum(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A)
    }
}

/// Reads the PDMP IG request Parameters (`pdmp-parameters-request`, SPEC-DIGEST §4.2).
public enum PDMPHistoryParser {
    static let npiSystem = "http://hl7.org/fhir/sid/us-npi"
    static let deaSystem = "http://terminology.hl7.org/NamingSystem/usdeanumber"

    /// The input parameters and the resource type each must carry.
    static let inputs: [String: String] = [
        "patient": "Patient", "animal-owner": "RelatedPerson", "authorized-practitioner": "Practitioner",
        "authorized-practitioner-role": "PractitionerRole", "authorized-practitioner-organization": "Organization",
        "delegate-practitioner": "Practitioner", "delegate-practitioner-role": "PractitionerRole",
        "delegate-organization": "Organization", "pre-stage-only": "", "pre-stage-retrieval-key": "",
    ]

    /// Parses a `$pdmp-history` Parameters resource.
    ///
    /// - Throws: 400 when a parameter is unknown, repeated, of the wrong type, or when `patient` or
    ///   `authorized-practitioner` (1..1 in the OperationDefinition) is missing.
    public static func parse(_ parameters: JSONValue) throws(FHIRRequestError) -> PDMPHistoryRequest {
        guard parameters["resourceType"]?.stringValue == "Parameters" else {
            throw .invalid("$pdmp-history needs a Parameters body")
        }
        var found: [String: JSONValue] = [:]
        for parameter in parameters["parameter"]?.arrayValue ?? [] {
            guard let name = parameter["name"]?.stringValue, let expected = inputs[name] else {
                throw .invalid("Unknown $pdmp-history parameter")
            }
            guard found[name] == nil else { throw .invalid("A $pdmp-history parameter is repeated") }
            try checkShape(parameter, expectedType: expected)
            found[name] = parameter
        }
        guard let patient = found["patient"]?["resource"],
            let practitioner = found["authorized-practitioner"]?["resource"]
        else { throw .invalid("$pdmp-history needs patient and authorized-practitioner") }
        return build(found, patient: patient, practitioner: practitioner)
    }

    /// Parses a `$process-message` body: a `message` Bundle (or Parameters with a `content` Bundle) whose
    /// MessageHeader event is `$pdmp-history` and whose focus is the request Parameters (§4.5).
    public static func parseMessage(_ body: JSONValue) throws(FHIRRequestError) -> PDMPHistoryRequest {
        var bundle = body
        if body["resourceType"]?.stringValue == "Parameters" {
            let parameters = body["parameter"]?.arrayValue ?? []
            // `response-url` would make the upstream call out to a URL the client chose.
            guard parameters.count == 1, parameters[0]["name"]?.stringValue == "content",
                let content = parameters[0]["resource"]
            else { throw .invalid("$process-message takes exactly one content parameter") }
            bundle = content
        }
        guard bundle["resourceType"]?.stringValue == "Bundle", bundle["type"]?.stringValue == "message",
            let entries = bundle["entry"]?.arrayValue, let header = entries.first?["resource"],
            header["resourceType"]?.stringValue == "MessageHeader"
        else { throw .invalid("$process-message needs a message Bundle starting with a MessageHeader") }
        guard header["eventCoding"]?["code"]?.stringValue == FHIRClassifier.pdmpHistoryCanonical else {
            throw .refused("Only PDMP history request messages are accepted")
        }
        let parameters = entries.dropFirst().compactMap { $0["resource"] }
            .filter { $0["resourceType"]?.stringValue == "Parameters" }
        guard parameters.count == 1 else { throw .invalid("A PDMP request message carries one Parameters") }
        for entry in entries.dropFirst() where entry["resource"]?["resourceType"]?.stringValue == "Bundle" {
            throw .invalid("Bundles cannot be nested")
        }
        return try parse(parameters[0])
    }

    private static func checkShape(_ parameter: JSONValue, expectedType: String) throws(FHIRRequestError) {
        if expectedType.isEmpty {
            let ok = parameter["valueBoolean"]?.boolValue != nil || parameter["valueString"]?.stringValue != nil
            guard ok else { throw .invalid("Invalid $pdmp-history flag parameter") }
            return
        }
        // SPEC-DIGEST §4.2 quirk: the examples put the resource inline in `parameter.resource`.
        guard parameter["resource"]?["resourceType"]?.stringValue == expectedType else {
            throw .invalid("A $pdmp-history parameter has the wrong resource type")
        }
    }

    private static func build(_ found: [String: JSONValue], patient: JSONValue, practitioner: JSONValue)
        -> PDMPHistoryRequest
    {
        var request = PDMPHistoryRequest()
        let name = patient["name"]?.arrayValue?.first
        request.patientFamily = name?["family"]?.stringValue
        request.patientGiven = name?["given"]?.arrayValue?.compactMap(\.stringValue) ?? []
        request.patientBirthDate = patient["birthDate"]?.stringValue
        request.patientIdentifiers = identifiers(of: patient)
        request.authorizedPractitioner = self.practitioner(practitioner)
        let role = found["authorized-practitioner-role"]?["resource"]
        request.practitionerRole = role?["code"]?.arrayValue?.first?["coding"]?.arrayValue?.first?["code"]?.stringValue
        if let organization = found["authorized-practitioner-organization"]?["resource"] {
            request.organizationIdentifiers = identifiers(of: organization)
        }
        request.delegate = found["delegate-practitioner"]?["resource"].map(self.practitioner)
        request.hasAnimalOwner = found["animal-owner"] != nil
        request.preStage = found["pre-stage-only"]?["valueBoolean"]?.boolValue ?? false
        request.preStageRetrievalKey = found["pre-stage-retrieval-key"]?["valueString"]?.stringValue
        return request
    }

    private static func practitioner(_ resource: JSONValue) -> PDMPHistoryRequest.Practitioner {
        let identifierValues = resource["identifier"]?.arrayValue ?? []
        func value(_ system: String) -> String? {
            identifierValues.first { $0["system"]?.stringValue == system }?["value"]?.stringValue
        }
        let name = resource["name"]?.arrayValue?.first
        let given = name?["given"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let parts = given + [name?["family"]?.stringValue].compactMap { $0 }
        return PDMPHistoryRequest.Practitioner(
            identifiers: identifiers(of: resource), npi: value(npiSystem),
            dea: value(deaSystem), name: parts.isEmpty ? nil : parts.joined(separator: " "))
    }

    /// Identifiers as `system|value`.
    private static func identifiers(of resource: JSONValue) -> [String] {
        (resource["identifier"]?.arrayValue ?? []).compactMap { identifier in
            guard let value = identifier["value"]?.stringValue else { return nil }
            return (identifier["system"]?.stringValue ?? "") + "|" + value
        }
    }
}
