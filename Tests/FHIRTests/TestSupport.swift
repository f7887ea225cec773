// Shared inputs for the FHIR tests: the hosts and fake data of attack-cases.md §0.
import GatewayCore

@testable import FHIR

enum Hosts {
    static let publicBase = "https://gw.example:8443/fhir"
    static let upstreamBase = "http://fhir-upstream.internal:8080/fhir"
}

let classifier = FHIRClassifier(baseSegments: ["fhir"], localBases: [Hosts.publicBase, Hosts.upstreamBase])

/// Classifies a request given as text.
func classify(
    _ method: String, _ target: String, contentType: String? = nil, body: String = "", ifNoneExist: String? = nil,
    headerNames: [String] = []
) throws(FHIRRequestError) -> Interaction {
    try classifier.classify(
        method: method, target: target, contentType: contentType, body: Array(body.utf8),
        ifNoneExist: ifNoneExist, headerNames: headerNames)
}

/// The refusal for a request, or nil when it was classified.
func refusal(
    _ method: String, _ target: String, contentType: String? = nil, body: String = "", ifNoneExist: String? = nil,
    headerNames: [String] = []
) -> FHIRRequestError? {
    do {
        _ = try classify(
            method, target, contentType: contentType, body: body, ifNoneExist: ifNoneExist,
            headerNames: headerNames)
        return nil
    } catch {
        return error
    }
}

func json(_ text: String) -> JSONValue {
    do { return try JSONValue.parse(Array(text.utf8)) } catch { fatalError("bad fixture JSON: \(error)") }
}

/// Realistic PDMP resources (attack-cases §0 fake data).
enum Fixtures {
    static func dispense(id: String, patient: String, extra: String = "") -> String {
        """
        {"resourceType":"MedicationDispense","id":"\(id)","meta":{"source":"https://pdmp.example/state"},
         "status":"completed",
         "medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm",
           "code":"1049621","display":"oxycodone hydrochloride 5 MG Oral Tablet"}]},
         "subject":{"reference":"Patient/\(patient)"},
         "performer":[{"actor":{"reference":"Practitioner/prac-1"}}],
         "authorizingPrescription":[{"reference":"MedicationRequest/mr-\(patient)-1"}],
         "quantity":{"value":30,"unit":"each"},"daysSupply":{"value":10,"unit":"day"},
         "whenPrepared":"2026-11-01T10:00:00Z","whenHandedOver":"2026-11-01T12:00:00Z"\(extra)}
        """
    }

    static func request(id: String, patient: String, category: String = "outpatient") -> String {
        """
        {"resourceType":"MedicationRequest","id":"\(id)","status":"active","intent":"order",
         "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/medicationrequest-category",
           "code":"\(category)"}]}],
         "medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm",
           "code":"1049621"}]},
         "subject":{"reference":"Patient/\(patient)"},"requester":{"reference":"Practitioner/prac-1"},
         "identifier":[{"system":"http://pdmp.example/rx","value":"RX-0001-11"}]}
        """
    }

    static func patient(_ id: String, family: String) -> String {
        """
        {"resourceType":"Patient","id":"\(id)","name":[{"family":"\(family)","given":["Test"]}],
         "birthDate":"1980-01-01","identifier":[{"system":"http://pdmp.example/mrn","value":"TEST-\(id)"}]}
        """
    }

    static let practitioner = """
        {"resourceType":"Practitioner","id":"prac-1","name":[{"family":"Prescriber","given":["Carol"]}],
         "identifier":[{"system":"http://hl7.org/fhir/sid/us-npi","value":"0000000001"}]}
        """
}
