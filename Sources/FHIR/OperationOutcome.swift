// FHIR R4 OperationOutcome bodies (SPEC-DIGEST §6.5), used for every error response the gateway makes and
// for the "entries were withheld" notice in filtered searchsets.
public import GatewayCore

/// Builds OperationOutcome resources.
public enum OperationOutcome {
    /// OperationOutcome.issue.severity.
    public enum Severity: String, Sendable {
        case fatal, error, warning, information
    }

    /// The media type of every FHIR body the gateway writes.
    public static let contentType = "application/fhir+json"

    /// A one-issue OperationOutcome as compact FHIR JSON.
    ///
    /// `diagnostics` is shown to the requester: it must hold no internal detail and no PHI.
    public static func make(severity: Severity, code: IssueType, diagnostics: String) -> [UInt8] {
        var text = #"{"resourceType":"OperationOutcome","issue":[{"severity":""#
        text += severity.rawValue
        text += #"","code":""#
        text += code.rawValue
        text += #"","diagnostics":"#
        appendJSONString(diagnostics, to: &text)
        text += "}]}"
        return Array(text.utf8)
    }

    /// The OperationOutcome for a client-visible error (severity `error`).
    public static func make(for error: some HTTPResponseError) -> [UInt8] {
        make(severity: .error, code: error.issueType, diagnostics: error.publicMessage)
    }

    /// The same outcome as a `JSONValue`, to embed in a Bundle entry or a Parameters.
    public static func value(severity: Severity, code: IssueType, diagnostics: String) -> JSONValue {
        let issue = JSONObject.make([
            ("severity", .string(severity.rawValue)), ("code", .string(code.rawValue)),
            ("diagnostics", .string(diagnostics)),
        ])
        return .object(
            JSONObject.make([("resourceType", .string("OperationOutcome")), ("issue", .array([.object(issue)]))]))
    }

    /// Appends `string` as a JSON string literal (RFC 8259 §7).
    static func appendJSONString(_ string: String, to text: inout String) {
        text.append("\"")
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": text.append("\\\"")
            case "\\": text.append("\\\\")
            case "\n": text.append("\\n")
            case "\r": text.append("\\r")
            case "\t": text.append("\\t")
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                text.append("\\u" + String(repeating: "0", count: 4 - hex.count) + hex)
            default: text.unicodeScalars.append(scalar)
            }
        }
        text.append("\"")
    }
}
