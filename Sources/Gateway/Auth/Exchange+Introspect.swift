// `POST /auth/introspect` (RFC 7662; SMART 2.2 token-introspection): other services ask whether a token
// is active and get `TokenValidator.introspectionResponse`.
//
// Caller authentication (RFC 7662 §2.1 allows client authentication or "a separate OAuth 2.0 access
// token"): the caller is a registered client that first obtains a gateway access token at `/auth/token`
// with its signed client assertion, then sends it as `Authorization: Bearer`. RFC 7662 §4 requires the AS
// to decide which callers may introspect, because answers reveal other clients' grants: only registered,
// active clients with the role `token-introspection` in clients.yaml may; others get 403.
// Decisions pinned by the tests: 405 for other methods, 400 `invalid_request` for a non-form body or a
// missing/repeated `token`, 401 (with the RFC 6750 challenge, and an error_description that names the
// expected authentication) for a missing or bad caller token, 403 `insufficient_scope` without the role,
// else 200 with `{"active": …}`. Every decision is audited (ITI-102 shape, issue #7).

import Audit
import Foundation
import GatewayCore
import GatewayHTTP
import SMART

extension Exchange {
    /// The clients.yaml role that allows a client to call `/auth/introspect`.
    static let introspectionRole = "token-introspection"

    /// What a 401 tells the caller to do (RFC 7662 §2.1 leaves the method to the AS; docs/cli.md).
    static let introspectionAuthentication = "This endpoint expects Authorization: Bearer with a gateway access "
        + "token that a registered client with the token-introspection role obtained at /auth/token "
        + "(client_credentials with private_key_jwt)."

    func introspectEndpoint() {
        introspectionAudit = AuditIntrospection(endpointURL: snapshot.config.publicBaseURL + "/auth/introspect")
        guard request.method == "POST" else {
            return introspectAnswer(
                405, ["error": "invalid_request", "error_description": "Use POST."], headers: [("Allow", "POST")])
        }
        let contentType = request.headers["content-type"]?.split(separator: ";").first?
            .trimmingCharacters(in: .whitespaces).lowercased()
        guard contentType == "application/x-www-form-urlencoded", let form = Self.parseForm(request.body),
              let tokens = form["token"], tokens.count == 1, let token = tokens.first, !token.isEmpty
        else {
            return introspectAnswer(400, [
                "error": "invalid_request",
                "error_description": "Send one token parameter as application/x-www-form-urlencoded.",
            ])
        }
        let authorizations = request.headers.values("authorization")
        guard authorizations.count == 1 else {
            return introspectUnauthorized(BearerError(.missing, "no or several Authorization headers"))
        }
        let bound = LoopBound(self, on: context.eventLoop)
        services.validator.validate(authorization: authorizations.first, now: now) { result in
            bound.run { exchange in exchange.introspectCaller(result, token: token) }
        }
    }

    func introspectCaller(_ caller: Result<Principal, BearerError>, token: String) {
        switch caller {
        case .success(let found): principal = found
        case .failure(let error): return introspectUnauthorized(error)
        }
        // Only the gateway's own tokens authenticate a registered client here; external issuers vouch for
        // FHIR access, not for this endpoint.
        guard let principal, principal.issuer == snapshot.config.auth.issuer, let client = principal.client,
              client.roles.contains(Self.introspectionRole)
        else {
            return introspectAnswer(403, [
                "error": "insufficient_scope",
                "error_description": "This client may not introspect tokens.",
            ])
        }
        logger.info("token introspected", metadata: ["client.id": client.id])
        let body = services.validator.introspectionResponse(token: token, now: now)
        introspectionAudit?.active = body["active"]?.boolValue
        introspectionAudit?.introspectedTokenJTI = body["jti"]?.stringValue
        let response = Responses.json(body, requestID: requestID)
        record(.success, description: nil) { $0.send(response) }
    }

    /// RFC 6750 §3.1: 401 with a `Bearer` challenge (an `error` only when credentials were presented).
    func introspectUnauthorized(_ error: BearerError) {
        let challenge = (error.bearerChallenge ?? [])
            .map { "\($0.0)=\"\($0.1)\"" }.joined(separator: ", ")
        let code = error.reason == .missing ? "invalid_request" : "invalid_token"
        let description = error.publicMessage + ". " + Self.introspectionAuthentication
        var response = Responses.json(
            ["error": .string(code), "error_description": .string(description)], status: 401, requestID: requestID)
        response.headers.add("WWW-Authenticate", challenge.isEmpty ? "Bearer" : "Bearer " + challenge)
        refusal = "\(code): \(error.detail)"
        record(.denied(status: 401), description: code) { $0.send(response) }
    }

    func introspectAnswer(_ status: Int, _ body: JSONValue, headers: [(String, String)] = []) {
        var response = Responses.json(body, status: status, requestID: requestID)
        for (name, value) in headers { response.headers.add(name, value) }
        let code = body["error"]?.stringValue ?? "error"
        refusal = code
        record(.denied(status: status), description: code) { $0.send(response) }
    }
}
