import Foundation
import Testing

@testable import FHIR

@Suite("$pdmp-history and $process-message requests (SPEC-DIGEST §4.2, §4.5)")
struct PDMPHistoryTests {
    static let parameters = """
        {"resourceType":"Parameters","parameter":[
         {"name":"patient","resource":{"resourceType":"Patient","name":[{"family":"Testpatient","given":["Alice","B"]}],
           "birthDate":"1980-01-01","gender":"female",
           "identifier":[{"system":"http://pdmp.example/mrn","value":"TEST-0001"}]}},
         {"name":"authorized-practitioner","resource":{"resourceType":"Practitioner",
           "identifier":[{"system":"http://hl7.org/fhir/sid/us-npi","value":"0000000001"},
                         {"system":"http://terminology.hl7.org/NamingSystem/usdeanumber","value":"AB1234563"}],
           "name":[{"family":"Prescriber","given":["Carol"]}]}},
         {"name":"authorized-practitioner-role","resource":{"resourceType":"PractitionerRole",
           "code":[{"coding":[{"system":"http://nucc.org/provider-taxonomy","code":"207Q00000X"}]}]}},
         {"name":"authorized-practitioner-organization","resource":{"resourceType":"Organization",
           "identifier":[{"system":"http://hl7.org/fhir/sid/us-npi","value":"1000000009"}]}},
         {"name":"pre-stage-only","valueBoolean":true}
        ]}
        """

    @Test("the request Parameters are read into PDMPHistoryRequest, at both endpoints")
    func parse() throws {
        for target in ["/fhir/$pdmp-history", "/fhir/Patient/$pdmp-history"] {
            let interaction = try classify("POST", target, contentType: "application/fhir+json", body: Self.parameters)
            #expect(interaction.kind == .operation && interaction.operation == "pdmp-history")
            let request = try #require(interaction.pdmpHistory)
            #expect(request.patientFamily == "Testpatient" && request.patientGiven == ["Alice", "B"])
            #expect(request.patientBirthDate == "1980-01-01")
            #expect(request.patientIdentifiers == ["http://pdmp.example/mrn|TEST-0001"])
            #expect(request.authorizedPractitioner?.npi == "0000000001")
            #expect(request.authorizedPractitioner?.dea == "AB1234563")
            #expect(request.authorizedPractitioner?.name == "Carol Prescriber")
            #expect(request.practitionerRole == "207Q00000X")
            #expect(request.organizationIdentifiers == ["http://hl7.org/fhir/sid/us-npi|1000000009"])
            #expect(request.preStage && !request.hasAnimalOwner && request.delegate == nil)
            #expect(interaction.patients.isEmpty)  // demographics, not ids (open question 25)
        }
        #expect(
            try classify(
                "POST", "/fhir/$pdmp-history", contentType: "application/fhir+json",
                body: Self.parameters
            ).operationLevel == .system)
    }

    @Test("unknown, repeated, mistyped or missing parameters are 400; GET and instance forms are 405")
    func strict() {
        let unknown = Self.parameters.replacingOccurrences(of: "pre-stage-only", with: "include-everyone")
        let repeated = Self.parameters.replacingOccurrences(
            of: "\"authorized-practitioner-organization\"",
            with: "\"authorized-practitioner\"")
        let missing = Self.parameters.replacingOccurrences(of: "\"patient\"", with: "\"animal-owner\"")
        for body in [unknown, repeated, missing] {
            #expect(
                refusal("POST", "/fhir/$pdmp-history", contentType: "application/fhir+json", body: body)?.status
                    == 400)
        }
        #expect(refusal("GET", "/fhir/$pdmp-history")?.status == 405)
        #expect(
            refusal(
                "POST", "/fhir/Patient/pt-alice/$pdmp-history", contentType: "application/fhir+json",
                body: Self.parameters)?.status == 405)
        #expect(
            refusal("POST", "/fhir/$pdmp-history", contentType: "application/fhir+xml", body: "<Parameters/>")?
                .status == 415)
    }

    @Test("a PDMP request message is parsed like the operation; other message events are refused")
    func processMessage() throws {
        let message = """
            {"resourceType":"Bundle","type":"message","entry":[
             {"fullUrl":"urn:uuid:1","resource":{"resourceType":"MessageHeader",
               "eventCoding":{"system":"urn:ietf:rfc:3986",
                 "code":"http://hl7.org/fhir/us/pdmp/OperationDefinition/pdmp-history"},
               "focus":[{"reference":"urn:uuid:2"}]}},
             {"fullUrl":"urn:uuid:2","resource":\(Self.parameters)}]}
            """
        let interaction = try classify(
            "POST", "/fhir/$process-message", contentType: "application/fhir+json",
            body: message)
        #expect(interaction.operation == "process-message" && interaction.pdmpHistory?.patientFamily == "Testpatient")
        let other = message.replacingOccurrences(of: "OperationDefinition/pdmp-history", with: "OperationDefinition/x")
        #expect(
            refusal("POST", "/fhir/$process-message", contentType: "application/fhir+json", body: other)?.status
                == 403)
        let wrapped = #"{"resourceType":"Parameters","parameter":[{"name":"content","resource":"# + message + "}]}"
        #expect(
            try classify("POST", "/fhir/$process-message", contentType: "application/fhir+json", body: wrapped)
                .pdmpHistory != nil)
        let callback =
            #"{"resourceType":"Parameters","parameter":[{"name":"content","resource":"# + message
            + #"},{"name":"response-url","valueUrl":"http://x"}]}"#
        #expect(
            refusal("POST", "/fhir/$process-message", contentType: "application/fhir+json", body: callback)?.status
                == 400)
    }
}
