import GatewayCore
import Testing

@testable import FHIR

@Suite("OperationOutcome bodies and URL rewriting")
struct OperationOutcomeTests {
    @Test("make produces R4 OperationOutcome JSON with escaped diagnostics")
    func make() throws {
        let bytes = OperationOutcome.make(severity: .error, code: .forbidden, diagnostics: "no \"access\"\n\u{1}")
        let value = try JSONValue.parse(bytes)
        #expect(value["resourceType"]?.stringValue == "OperationOutcome")
        let issue = try #require(value["issue"]?.arrayValue?.first)
        #expect(issue["severity"]?.stringValue == "error" && issue["code"]?.stringValue == "forbidden")
        #expect(issue["diagnostics"]?.stringValue == "no \"access\"\n\u{1}")
    }

    @Test("an error's outcome carries its issue type and public message")
    func fromError() throws {
        let value = try JSONValue.parse(OperationOutcome.make(for: FHIRRequestError.accessDenied))
        #expect(
            value["issue"]?.arrayValue?.first?["diagnostics"]?.stringValue
                == FHIRRequestError.accessDenied.publicMessage)
        #expect(
            OperationOutcome.make(for: FHIRRequestError.accessDenied)
                == OperationOutcome.make(for: FHIRRequestError.accessDenied))
    }

    @Test("URLRewriter maps the upstream base to the public base and refuses foreign absolute URLs")
    func rewriter() {
        let rewriter = URLRewriter(upstreamBase: Hosts.upstreamBase + "/", publicBase: Hosts.publicBase)
        #expect(
            rewriter.rewrite(Hosts.upstreamBase + "/MedicationDispense/md-1/_history/2")
                == Hosts.publicBase + "/MedicationDispense/md-1/_history/2")
        #expect(rewriter.rewrite(Hosts.upstreamBase + "?_getpages=abc") == Hosts.publicBase + "?_getpages=abc")
        #expect(rewriter.rewrite(Hosts.upstreamBase + "x/Patient/1") == nil)
        #expect(rewriter.rewrite("https://evil.example/fhir/Patient/1") == nil)
        #expect(rewriter.rewrite("//evil.example/x") == nil)
        #expect(rewriter.rewrite("MedicationDispense/md-1") == "MedicationDispense/md-1")
        #expect(rewriter.rewriteHeader(Hosts.publicBase + "/Patient/1") == Hosts.publicBase + "/Patient/1")
    }
}
