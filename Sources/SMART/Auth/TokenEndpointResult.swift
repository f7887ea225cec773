// What `POST /auth/token` answers: RFC 6749 §5.1 success JSON or §5.2 error JSON, with the status and the
// headers SMART 2.2 requires (`Cache-Control: no-store`, `Pragma: no-cache`).

public import GatewayCore

/// The HTTP answer of the token endpoint, plus an outcome for audit and metrics.
public struct TokenEndpointResult: Sendable {
    /// What happened, without any token or assertion text.
    public enum Outcome: Sendable, Equatable {
        case issued(clientID: String, scopes: [String], tokenID: String)
        case refused(error: String, clientID: String?)
    }

    /// HTTP status (200, 400 or 503; 429 comes from the endpoint wiring).
    public let status: Int
    /// RFC 6749 §5.1 or §5.2 JSON.
    public let body: JSONValue
    /// Content-Type, Cache-Control: no-store, Pragma: no-cache (+ Retry-After on 503).
    public let headers: [(String, String)]
    /// What happened, for audit.
    public let outcome: Outcome

    /// The serialized body.
    public var bodyBytes: [UInt8] { body.serialized() }

    static let standardHeaders = [
        ("Content-Type", "application/json"), ("Cache-Control", "no-store"), ("Pragma", "no-cache"),
    ]

    static func success(_ token: IssuedToken, clientID: String, scopes: [String]) -> TokenEndpointResult {
        let body = JSONBuild.object([
            ("access_token", .string(token.accessToken)), ("token_type", .string("Bearer")),
            ("expires_in", .number(String(token.expiresIn))), ("scope", .string(scopes.joined(separator: " "))),
        ])
        return TokenEndpointResult(
            status: 200, body: body, headers: standardHeaders,
            outcome: .issued(clientID: clientID, scopes: scopes, tokenID: token.tokenID))
    }

    static func failure(_ error: TokenRequestError) -> TokenEndpointResult {
        let body = JSONBuild.object([
            ("error", .string(error.code.rawValue)), ("error_description", .string(error.description)),
        ])
        var headers = standardHeaders
        if error.code == .temporarilyUnavailable { headers.append(("Retry-After", "1")) }
        return TokenEndpointResult(
            status: error.code.status, body: body, headers: headers,
            outcome: .refused(error: error.code.rawValue, clientID: error.clientID))
    }
}

/// A refusal at the token endpoint.
struct TokenRequestError: Error {
    /// RFC 6749 §5.2 error codes, with the status this gateway pins for each.
    enum Code: String {
        case invalidRequest = "invalid_request"
        case invalidClient = "invalid_client"
        case invalidScope = "invalid_scope"
        case unsupportedGrantType = "unsupported_grant_type"
        case temporarilyUnavailable = "temporarily_unavailable"

        /// 400 for every RFC 6749 §5.2 code, `invalid_client` included (SPEC-DIGEST §1.6 step 9 and §1.8:
        /// 401 is only required with `WWW-Authenticate` for a client that authenticated through the
        /// Authorization header, which `private_key_jwt` never does; Inferno accepts 400). A replay store
        /// outage is 503 (fail closed).
        var status: Int {
            switch self {
            case .temporarilyUnavailable: 503
            default: 400
            }
        }
    }

    let code: Code
    /// Printable ASCII without `"` or `\` (RFC 6749 §5.2); never echoes client input.
    let description: String
    let clientID: String?

    init(_ code: Code, _ description: String, clientID: String? = nil) {
        self.code = code
        self.description = description
        self.clientID = clientID
    }
}
