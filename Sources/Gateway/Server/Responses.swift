// Turning errors into responses, in one place (STYLE §10): FHIR OperationOutcome bodies with the error's
// status, RFC 6750 `WWW-Authenticate` challenges for 401/403, and the request ID on every response.

import FHIR
import GatewayCore
import GatewayHTTP

enum Responses {
    static let fhirJSON = "application/fhir+json; charset=utf-8"

    /// An OperationOutcome response for `error`.
    static func error(_ error: any HTTPResponseError, requestID: String?) -> HTTPResponse {
        var headers = HTTPHeaders([("Content-Type", fhirJSON), ("Cache-Control", "no-store")])
        if let challenge = error.bearerChallenge {
            // RFC 6750 §3: `Bearer` followed by auth-params; the values here are fixed codes and messages
            // written by the gateway, quoted.
            let params = challenge.map { "\($0.0)=\"\($0.1.replacingQuotes())\"" }.joined(separator: ", ")
            headers.add("WWW-Authenticate", params.isEmpty ? "Bearer" : "Bearer " + params)
        }
        for (name, value) in error.extraHeaders { headers.add(name, value) }
        if let requestID { headers.add("X-Request-ID", requestID) }
        return HTTPResponse(status: error.status, headers: headers, body: OperationOutcome.make(for: error))
    }

    /// A framing error from the HTTP codec, rendered the same way.
    static func framingError(status: Int, message: String) -> HTTPResponse {
        error(GatewayError(status: status, issueType: status == 413 || status == 414 || status == 431 ? .tooLong : .invalid, message), requestID: nil)
    }

    /// A JSON document (discovery, JWKS, OAuth responses).
    static func json(_ value: JSONValue, status: Int = 200, requestID: String?, cacheable: Bool = false) -> HTTPResponse {
        var headers = HTTPHeaders([("Content-Type", "application/json")])
        headers.add("Cache-Control", cacheable ? "public, max-age=300" : "no-store")
        if !cacheable { headers.add("Pragma", "no-cache") }
        if let requestID { headers.add("X-Request-ID", requestID) }
        return HTTPResponse(status: status, headers: headers, body: value.serialized())
    }
}

extension String {
    fileprivate func replacingQuotes() -> String {
        var out = ""
        for scalar in unicodeScalars {
            out.unicodeScalars.append(scalar == "\"" || scalar == "\\" || scalar.value < 0x20 ? "'" : scalar)
        }
        return out
    }
}
