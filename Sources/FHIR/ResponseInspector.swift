// Response inspection (ARCHITECTURE §1 step 5, issue #5 items 4, 6, 7): the upstream may over-share, so
// what it returns is checked against the allowed patients before the client sees a byte of it.
//
// Release rule (stricter than compartment membership, on purpose — a PDMP discloses nothing about a
// second patient): a compartment resource is released only when every Patient its compartment elements
// reference is allowed, at least one is, and none is unresolvable. A resource outside every compartment is
// released in a Bundle only when a released resource of the same response references it (SPEC-DIGEST
// §3.1, open question 21), and only for the master-data types below; on a direct read of master data it is
// released as is.
import GatewayCore

/// The outcome of inspecting one upstream response body.
public struct InspectionResult: Sendable {
    /// Release the (rewritten) body, or deny with this error.
    public enum Verdict: Sendable, Hashable {
        case release
        case deny(FHIRRequestError)
    }

    public var verdict: Verdict
    /// The body to send when released: filtered, with upstream URLs rewritten. Empty when denied.
    public var body: [UInt8]
    /// How many entries (or PDMP result resources) were withheld.
    public var withheld: Int
    /// Every patient the upstream response referenced, released or not (for audit).
    public var patientsSeen: Set<String>
    /// The patients of the resources actually released (for audit: whose data was disclosed).
    public var patientsReleased: Set<String>
}

/// Checks upstream responses against the patient compartment.
public enum ResponseInspector {
    /// Types outside every patient compartment that clients need to interpret results (SPEC-DIGEST §3.1).
    public static let masterDataTypes: Set<String> = [
        "Medication", "Organization", "Practitioner", "PractitionerRole", "Location", "Substance",
        "HealthcareService", "Endpoint", "MedicationKnowledge", "Device",
    ]

    /// The verdict when the upstream body cannot be parsed: the gateway never relays what it cannot check.
    public static let uninspectable = FHIRRequestError(
        status: 502, issueType: .exception, "The upstream response could not be inspected")

    /// The answer to send instead of an upstream error, for a patient-context token: a missing or deleted
    /// target must look exactly like a forbidden one (FHIR-01/02, attack-cases "Decisions already taken" (2)).
    /// Nil when the upstream status may be relayed.
    public static func replacement(forUpstreamStatus status: Int, interaction: Interaction) -> FHIRRequestError? {
        switch interaction.kind {
        case .read, .vread, .historyInstance, .update, .patch, .delete:
            return status == 404 || status == 410 ? .accessDenied : nil
        default:
            return nil
        }
    }

    /// Inspects a successful upstream response body.
    ///
    /// - Note: Bundles (the large responses) are inspected on a byte index of the body (`JSONIndex`): the
    ///   entries are decided on the index and the kept ones copied as they came, with rewritten URLs spliced
    ///   in, instead of building, re-serialising and freeing a JSON tree (issue #5: ≤ 5 ms per 1 MB).
    ///   Other responses are small and go through the tree.
    ///
    /// - Parameters:
    ///   - body: the (decompressed) upstream body.
    ///   - interaction: the request it answers.
    ///   - allowedPatients: the patients the token may see; nil for no patient restriction (system tokens:
    ///     URLs are still rewritten, `$pdmp-history` consistency is still checked, patients are reported).
    ///   - upstreamBase: the upstream FHIR base URL; `publicBase`: the gateway's public FHIR base URL.
    ///   - scopeConstraints: granular scope constraints (`ScopeGrant.narrowing` or `.readConstraints`) that
    ///     every returned resource of the interaction's type must satisfy (SCP-05 (b)(e)): a read that does
    ///     not match is denied like a missing resource; search entries that do not match are withheld.
    ///   - linkCheck: decides each `Bundle.link` URL (rewritten to the public base) as the request a client
    ///     following it would make; a link it refuses is dropped, so that no link names another patient.
    public static func inspect(
        body: [UInt8], interaction: Interaction, allowedPatients: Set<String>?, upstreamBase: String,
        publicBase: String, scopeConstraints: [SearchParameter] = [], linkCheck: ((String) -> Bool)? = nil
    ) -> InspectionResult {
        inspect(
            body: body, interaction: interaction, allowedPatients: allowedPatients, upstreamBase: upstreamBase,
            publicBase: publicBase, scopeConstraints: scopeConstraints, splicing: true, linkCheck: linkCheck)
    }

    /// `inspect`, with `splicing: false` taking the tree path for Bundles too (the reference the spliced
    /// path is tested and benchmarked against: Benchmarks/InspectBench).
    @_spi(Benchmark) public static func inspect(
        body: [UInt8], interaction: Interaction, allowedPatients: Set<String>?, upstreamBase: String,
        publicBase: String, scopeConstraints: [SearchParameter], splicing: Bool, linkCheck: ((String) -> Bool)? = nil
    ) -> InspectionResult {
        let rewriter = URLRewriter(upstreamBase: upstreamBase, publicBase: publicBase)
        // A write answered without a representation (201/204 with no body) has nothing to disclose.
        if body.isEmpty {
            return InspectionResult(verdict: .release, body: [], withheld: 0, patientsSeen: [], patientsReleased: [])
        }
        var context = Context(
            allowed: allowedPatients, rewriter: rewriter,
            bases: [rewriter.upstreamBase, rewriter.publicBase])
        if !scopeConstraints.isEmpty, let type = interaction.resourceType {
            context.constraints = (type, scopeConstraints)
        }
        context.linkCheck = linkCheck
        if interaction.kind == .searchCompartment, let patient = interaction.id,
            let type = interaction.compartmentTargetType, ResourceTypes.isKnown(type)
        {
            context.pagingCompartment = (patient, type)
        }
        let isPDMP = interaction.operation == "pdmp-history" || interaction.operation == "process-message"
        let root: JSONValue
        if splicing {
            guard let index = try? JSONIndex(parsing: body), index.root.isObject else {
                return denied(uninspectable, seen: [])
            }
            let object = index.root
            if object["resourceType"]?.isString("Bundle") == true
                && !(isPDMP && object["type"]?.isString("message") == true)
            {
                guard let spliced = context.inspectBundle(spliced: object, interaction: interaction) else {
                    return denied(context.denial ?? .accessDenied, seen: context.seen)
                }
                return released(spliced, context)
            }
            root = object.value
        } else {
            guard let parsed = try? JSONValue.parse(body) else { return denied(uninspectable, seen: []) }
            root = parsed
        }
        guard case .object(let object) = root else { return denied(uninspectable, seen: []) }
        let type = object["resourceType"]?.stringValue
        let result: JSONValue?
        switch type {
        case "Bundle" where isPDMP && object["type"]?.stringValue == "message":
            result = context.inspectMessage(object)
        case "Parameters" where isPDMP:
            result = context.inspectPDMPParameters(object)
        case "Bundle":
            result = context.inspectBundle(object, interaction: interaction)
        case "OperationOutcome":
            // Released unless it holds something `classify` refuses (a `contained` resource of another patient).
            result = context.inspectSingle(root)
        case "CapabilityStatement":
            result = context.rewritingCapabilities(object)
        default:
            result = context.inspectSingle(root)
        }
        guard let result else { return denied(context.denial ?? .accessDenied, seen: context.seen) }
        return released(result.serialized(), context)
    }

    private static func released(_ body: [UInt8], _ context: Context) -> InspectionResult {
        InspectionResult(
            verdict: .release, body: body, withheld: context.withheld, patientsSeen: context.seen,
            patientsReleased: context.released)
    }

    private static func denied(_ error: FHIRRequestError, seen: Set<String>) -> InspectionResult {
        InspectionResult(verdict: .deny(error), body: [], withheld: 0, patientsSeen: seen, patientsReleased: [])
    }
}

// MARK: - The inspection of one response

extension ResponseInspector {
    struct Context {
        var allowed: Set<String>?
        let rewriter: URLRewriter
        let bases: [String]
        /// Reference strings that stand for a Patient id (PDMP collection fullUrls such as `urn:uuid:`).
        var aliases: [String: String] = [:]
        var withheld = 0
        var seen: Set<String> = []
        var released: Set<String> = []
        var denial: FHIRRequestError?
        /// Granular scope constraints on resources of one type.
        var constraints: (type: String, parameters: [SearchParameter])?
        /// For a compartment search `Patient/{id}/{type}`: the compartment its paging links must stay in.
        var pagingCompartment: (patient: String, type: String)?
        /// Decides a rewritten link as a request (see `inspect(...linkCheck:)`).
        var linkCheck: ((String) -> Bool)?

        enum Class { case release, master, withhold }

        /// True when a granular scope constraint applies to the resource and it does not match (or the
        /// gateway cannot tell): withheld whatever the patient decision was.
        func violatesConstraints<Value: JSONReading>(_ resource: Value) -> Bool {
            guard let constraints, resource["resourceType"]?.stringValue == constraints.type else { return false }
            return TokenConstraint.matching(resource, constraints: constraints.parameters) != true
        }

        /// Decides one resource and records the patients it references.
        mutating func classify<Value: JSONReading>(_ resource: Value) -> Class {
            // Names are compared as Swift Strings (canonical equivalence: U+212A KELVIN SIGN equals "K"), so a
            // type is taken only as plain ASCII letters, the form every client reads the same way.
            guard let type = resource["resourceType"]?.stringValue, Self.isTypeName(type) else { return .withhold }
            // Whatever the resource is, what it contains is disclosed with it.
            if let contained = resource["contained"], !containedReleasable(contained) { return .withhold }
            if type == "OperationOutcome" { return .release }
            guard let membership = PatientCompartment.membership(of: resource, bases: bases, aliases: aliases) else {
                return ResponseInspector.masterDataTypes.contains(type) ? .master : .withhold
            }
            // A Patient belongs to its own compartment; its links to other records do not decide release.
            // Its id must be a FHIR id (ASCII), so that it equals an allowed id only byte for byte.
            let patients: Set<String>
            if type == "Patient" {
                guard let id = resource["id"]?.stringValue, FHIRSyntax.isValidID(id) else { return .withhold }
                patients = [id]
            } else {
                patients = membership.patients
            }
            seen.formUnion(patients)
            guard membership.unresolved == 0 || type == "Patient", !patients.isEmpty else { return .withhold }
            if let allowed, !patients.isSubset(of: allowed) { return .withhold }
            // Outside its compartment elements (MedicationDispense.performer.actor may be a Patient), a
            // resource may still name another patient: a PDMP discloses nothing about a second patient.
            if let allowed, type != "Patient", referencesOtherPatient(resource, allowed: allowed) { return .withhold }
            released.formUnion(patients)
            return .release
        }

        /// True when a literal reference anywhere in `resource` resolves to a Patient outside `allowed`.
        func referencesOtherPatient<Value: JSONReading>(_ resource: Value, allowed: Set<String>) -> Bool {
            var found = false
            resource.forEachPatientReferenceString { literal in
                guard !found, case .resource("Patient", let id) = FHIRReference.parse(literal, bases: bases) else {
                    return
                }
                found = !allowed.contains(id)
            }
            return found
        }

        static func isTypeName(_ name: String) -> Bool {
            !name.isEmpty && name.utf8.allSatisfy { $0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A }
        }

        /// True when every resource in `contained` may go out with its container: contained resources are
        /// disclosed whether or not anything references them (R4 references.html#contained and invariant
        /// dom-3 require a reference; clients do not check), so each is decided on its own, failing closed.
        /// A contained Patient hides who the patient is; a contained resource of a compartment type may
        /// reference only allowed patients (or none: it then shares its container's); other types pass only
        /// as master data; nested `contained` (dom-2) and a non-array `contained` are refused.
        mutating func containedReleasable<Value: JSONReading>(_ contained: Value) -> Bool {
            guard let items = contained.elements else { return false }
            for item in items {
                guard item.isObject, item["contained"] == nil, let type = item["resourceType"]?.stringValue,
                    Self.isTypeName(type), type != "Patient"
                else { return false }
                guard let membership = PatientCompartment.membership(of: item, bases: bases, aliases: aliases) else {
                    if ResponseInspector.masterDataTypes.contains(type) { continue }
                    return false
                }
                seen.formUnion(membership.patients)
                guard membership.unresolved == 0 else { return false }
                if let allowed, !membership.patients.isSubset(of: allowed) { return false }
            }
            return true
        }

        /// The CapabilityStatement names the server's own base in `implementation.url` (issue #5 item 7).
        func rewritingCapabilities(_ statement: JSONObject) -> JSONValue {
            guard case .object(let implementation) = statement["implementation"],
                let url = implementation["url"]?.stringValue
            else { return .object(statement) }
            let rewritten = rewriter.rewrite(url).map { implementation.setting("url", .string($0)) }
            return .object(statement.setting("implementation", .object(rewritten ?? implementation.removing("url"))))
        }

        /// A read, vread, or the representation returned by a write: released whole or denied with the same
        /// answer as a read of a resource that does not exist (FHIR-01/02).
        mutating func inspectSingle(_ resource: JSONValue) -> JSONValue? {
            let decision = classify(resource)
            if violatesConstraints(resource) { return Optional<JSONValue>.none }
            // Note: JSONValue is ExpressibleByNilLiteral, so `cond ? nil : resource` would yield `.null`.
            if allowed != nil && decision == .withhold { return Optional<JSONValue>.none }
            return resource
        }
    }
}
