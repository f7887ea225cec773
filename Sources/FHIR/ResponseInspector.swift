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

    /// Inspects a successful upstream response body.
    ///
    /// - Parameters:
    ///   - body: the (decompressed) upstream body.
    ///   - interaction: the request it answers.
    ///   - allowedPatients: the patients the token may see; nil for no patient restriction (system tokens:
    ///     URLs are still rewritten, `$pdmp-history` consistency is still checked, patients are reported).
    ///   - upstreamBase: the upstream FHIR base URL; `publicBase`: the gateway's public FHIR base URL.
    public static func inspect(
        body: [UInt8], interaction: Interaction, allowedPatients: Set<String>?, upstreamBase: String,
        publicBase: String
    ) -> InspectionResult {
        let rewriter = URLRewriter(upstreamBase: upstreamBase, publicBase: publicBase)
        guard let root = try? JSONValue.parse(body), case .object(let object) = root else {
            return denied(uninspectable, seen: [])
        }
        var context = Context(allowed: allowedPatients, rewriter: rewriter,
            bases: [rewriter.upstreamBase, rewriter.publicBase])
        let type = object["resourceType"]?.stringValue
        let isPDMP = interaction.operation == "pdmp-history" || interaction.operation == "process-message"
        let result: JSONValue?
        switch type {
        case "Bundle" where isPDMP && object["type"]?.stringValue == "message":
            result = context.inspectMessage(object)
        case "Parameters" where isPDMP:
            result = context.inspectPDMPParameters(object)
        case "Bundle":
            result = context.inspectBundle(object, interaction: interaction)
        case "OperationOutcome":
            result = root
        default:
            result = context.inspectSingle(root)
        }
        guard let result else { return denied(context.denial ?? .accessDenied, seen: context.seen) }
        return InspectionResult(verdict: .release, body: result.serialized(), withheld: context.withheld,
            patientsSeen: context.seen, patientsReleased: context.released)
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

        enum Class { case release, master, withhold }

        /// Decides one resource and records the patients it references.
        mutating func classify(_ resource: JSONValue) -> Class {
            guard let type = resource["resourceType"]?.stringValue else { return .withhold }
            if type == "OperationOutcome" { return .release }
            guard let membership = PatientCompartment.membership(of: resource, bases: bases, aliases: aliases) else {
                return ResponseInspector.masterDataTypes.contains(type) ? .master : .withhold
            }
            // A Patient belongs to its own compartment; its links to other records do not decide release.
            let patients = type == "Patient" ? Set([resource["id"]?.stringValue].compactMap { $0 }) : membership.patients
            seen.formUnion(patients)
            guard membership.unresolved == 0 || type == "Patient", !patients.isEmpty else { return .withhold }
            if let allowed, !patients.isSubset(of: allowed) { return .withhold }
            released.formUnion(patients)
            return .release
        }

        /// A read, vread, or the representation returned by a write: released whole or denied with the same
        /// answer as a read of a resource that does not exist (FHIR-01/02).
        mutating func inspectSingle(_ resource: JSONValue) -> JSONValue? {
            let decision = classify(resource)
            // Note: JSONValue is ExpressibleByNilLiteral, so `cond ? nil : resource` would yield `.null`.
            if allowed != nil && decision == .withhold { return Optional<JSONValue>.none }
            return resource
        }
    }
}
