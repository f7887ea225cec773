// Step 1 of SPEC-DIGEST §1.6: the form parameters. Pinned answers (TOK-06): a duplicated parameter is
// `invalid_request`, except a duplicated `client_assertion`/`client_assertion_type`, which is ambiguous
// client authentication and so `invalid_client`; a wrong `grant_type` is `unsupported_grant_type`; a wrong
// `client_assertion_type` is `invalid_request` (400, as Inferno expects); a missing assertion is
// `invalid_client` (RFC 6749 §5.2: "no client authentication included").

/// The validated form of a token request.
struct TokenRequest {
    let scopes: [String]
    let assertion: String
    let clientID: String?

    init(form: [String: [String]]) throws(TokenRequestError) {
        for name in ["client_assertion", "client_assertion_type"] where (form[name]?.count ?? 0) > 1 {
            throw TokenRequestError(.invalidClient, "\(name) given more than once")
        }
        if let duplicated = form.first(where: { $0.value.count > 1 })?.key, Self.isKnown(duplicated) {
            throw TokenRequestError(.invalidRequest, "\(duplicated) given more than once")
        }
        guard let grantType = form["grant_type"]?.first else {
            throw TokenRequestError(.invalidRequest, "grant_type is required")
        }
        guard grantType == "client_credentials" else {
            throw TokenRequestError(.unsupportedGrantType, "only client_credentials is supported")
        }
        guard let assertionType = form["client_assertion_type"]?.first, let assertion = form["client_assertion"]?.first,
            !assertion.isEmpty
        else { throw TokenRequestError(.invalidClient, "client_assertion and client_assertion_type are required") }
        guard assertionType == AuthorizationServer.clientAssertionType else {
            throw TokenRequestError(.invalidRequest, "client_assertion_type must be jwt-bearer")
        }
        guard let scopeValue = form["scope"]?.first else {
            throw TokenRequestError(.invalidRequest, "scope is required")
        }
        guard let scopes = ScopeMediation.split(scopeValue) else {
            throw TokenRequestError(.invalidScope, "malformed scope")
        }
        self.scopes = scopes
        self.assertion = assertion
        self.clientID = form["client_id"]?.first
    }

    /// Duplicates of parameters this endpoint reads are refused; unknown extras are ignored (RFC 6749 §3.2).
    private static func isKnown(_ name: String) -> Bool {
        ["grant_type", "scope", "client_id"].contains(name)
    }
}
