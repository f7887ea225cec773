// The gateway's own endpoints: the SMART token endpoint and the CapabilityStatement with its SMART
// security section.

import Audit
import FHIR
import Foundation
import GatewayCore
import GatewayHTTP
import GatewayIO
import SMART
import SharedState

extension Exchange {
    // MARK: - POST /auth/token (SMART 2.2 backend services §"Obtaining an access token")

    func tokenEndpoint() {
        tokenAudit = AuditTokenRequest()
        // An OAuth client gets OAuth JSON (RFC 6749 §5.2 shape) even for the wrong method, with `Allow`.
        guard request.method == "POST" else {
            return tokenRefusal(405, "invalid_request", "The token endpoint takes POST.", headers: [("Allow", "POST")])
        }
        let contentType = request.headers["content-type"]?.split(separator: ";").first?
            .trimmingCharacters(in: .whitespaces).lowercased()
        guard contentType == "application/x-www-form-urlencoded" else {
            return tokenRefusal(400, "invalid_request", "The token request must be application/x-www-form-urlencoded.")
        }
        guard let form = Self.parseForm(request.body) else {
            return tokenRefusal(400, "invalid_request", "The form body is not valid.")
        }
        tokenAudit = AuditTokenRequest(
            grantType: form["grant_type"]?.first, requestedScope: form["scope"]?.first,
            clientAssertionType: form["client_assertion_type"]?.first)
        // HDR-03: quotas key on the socket peer, never on a forwarding header.
        let peer = context.remoteAddress.host
        let quota = services.rateLimiter.consume(
            key: "token-endpoint|\(peer)", limit: snapshot.config.limits.tokenRequestsPerMinute, window: 60, now: now)
        if case .exceeded(retryAfter: let retryAfter) = quota {
            return tokenRefusal(429, "slow_down", "Too many token requests.", headers: [("Retry-After", String(retryAfter))])
        }
        let bound = LoopBound(self, on: context.eventLoop)
        services.authorizationServer.handleTokenRequest(form: form, tokenURL: snapshot.config.tokenURL, now: now) { result in
            bound.run { exchange in exchange.tokenAnswered(result) }
        }
    }

    func tokenAnswered(_ result: TokenEndpointResult) {
        var headers = HTTPHeaders(result.headers)
        headers.add("X-Request-ID", requestID)
        let response = HTTPResponse(status: result.status, headers: headers, body: result.bodyBytes)
        switch result.outcome {
        case .issued(let clientID, let scopes, let tokenID):
            tokenClientID = clientID
            tokenAudit?.grantedScope = scopes.joined(separator: " ")
            tokenAudit?.issuedTokenJTI = tokenID
            tokenAudit?.expiresIn = services.issuer.lifetime
            record(.success, description: nil) { $0.send(response) }
        case .refused(let error, let clientID):
            tokenClientID = clientID
            record(.denied(status: result.status), description: error) { $0.send(response) }
        }
    }

    /// An RFC 6749 §5.2 error decided before the authorization server was asked.
    func tokenRefusal(_ status: Int, _ code: String, _ description: String, headers extra: [(String, String)] = []) {
        let body: JSONValue = ["error": .string(code), "error_description": .string(description)]
        var headers = HTTPHeaders([
            ("Content-Type", "application/json"), ("Cache-Control", "no-store"), ("Pragma", "no-cache"),
            ("X-Request-ID", requestID),
        ])
        for (name, value) in extra { headers.add(name, value) }
        let response = HTTPResponse(status: status, headers: headers, body: body.serialized())
        record(.denied(status: status), description: code) { $0.send(response) }
    }

    /// Decodes `application/x-www-form-urlencoded` (every value of every name kept, so that the
    /// authorization server can refuse repeated parameters). Nil for invalid percent-encoding or UTF-8.
    static func parseForm(_ body: [UInt8]) -> [String: [String]]? {
        guard let text = String(validating: body, as: UTF8.self) else { return nil }
        var form: [String: [String]] = [:]
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = decodeFormComponent(parts[0]),
                  let value = parts.count > 1 ? decodeFormComponent(parts[1]) : ""
            else { return nil }
            form[name, default: []].append(value)
        }
        return form
    }

    static func decodeFormComponent(_ component: Substring) -> String? {
        component.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }

    // MARK: - GET {base}/metadata

    /// The upstream CapabilityStatement with the SMART `oauth-uris` extension added to every `rest` entry
    /// (SPEC-DIGEST §1.3: deprecated but still read by clients) and its URLs pointing at the gateway.
    func capabilities() {
        guard request.method == "GET" || request.method == "HEAD" else { return refuse(Self.methodNotAllowed(allow: "GET, HEAD")) }
        let upstream = snapshot.config.upstream
        let target = UpstreamRequestBuilder.upstreamTarget(basePath: upstream.basePath, segments: ["metadata"], query: [])
        let upstreamRequest = UpstreamRequestBuilder.build(
            method: "GET", upstreamTarget: target, headers: HTTPHeaders([("Accept", "application/fhir+json")]), body: [],
            context: forwardingContext, upstreamAuthorization: upstream.authorization, allowCompression: false)
        let bound = LoopBound(self, on: context.eventLoop)
        pool.send(upstreamRequest, maxBodyBytes: upstream.maxInspectedBodyBytes) { result in
            bound.run { exchange in
                switch result {
                case .success(let response): exchange.answerCapabilities(response)
                case .failure(let error): exchange.fail(error)
                }
            }
        }
    }

    func answerCapabilities(_ upstream: HTTPResponse) {
        guard upstream.status == 200, case .object(var statement)? = try? JSONValue.parse(upstream.body),
              statement["resourceType"] == "CapabilityStatement"
        else {
            return fail(GatewayError(status: 502, issueType: .exception, "The upstream CapabilityStatement is not usable."))
        }
        let base = snapshot.config.publicBaseURL
        let security: JSONValue = [
            "extension": [[
                "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                "extension": [["url": "token", "valueUri": .string(base + "/auth/token")]],
            ]],
            "service": [["coding": [[
                "system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "SMART-on-FHIR",
            ]]]],
        ]
        let allowed = snapshot.classifier.allowedOperations
        if case .array(let rest)? = statement["rest"] {
            statement["rest"] = .array(rest.map { entry in
                guard case .object(var object) = entry else { return entry }
                object["security"] = security
                // Advertise only the operations the gateway lets through (FHIR-11): a client that reads
                // the statement must not be sent to `$export` or `$everything` only to get 403.
                object["operation"] = Self.allowedOperations(object["operation"], allowed)
                if case .array(let resources)? = object["resource"] {
                    object["resource"] = .array(resources.map { resource in
                        guard case .object(var r) = resource else { return resource }
                        r["operation"] = Self.allowedOperations(r["operation"], allowed)
                        return .object(r)
                    })
                }
                return .object(object)
            })
        }
        if case .object(var implementation)? = statement["implementation"] {
            implementation["url"] = .string(snapshot.config.publicFHIRBase)
            statement["implementation"] = .object(implementation)
        }
        // Every upstream URL (the statement's own `url`, messaging endpoints, ...) points at the gateway: the
        // upstream's address is internal.
        let rewriter = URLRewriter(upstreamBase: snapshot.upstreamBaseURL, publicBase: snapshot.config.publicFHIRBase)
        statement = Self.rewritingURLs(.object(statement), rewriter).objectValue ?? statement
        let headers = HTTPHeaders([("Content-Type", Responses.fhirJSON), ("X-Request-ID", requestID)])
        send(HTTPResponse(status: 200, headers: headers, body: JSONValue.object(statement).serialized()))
    }

    /// The operation list with only the operations the gateway forwards; nil when none remain.
    static func allowedOperations(_ list: JSONValue?, _ allowed: Set<String>) -> JSONValue? {
        guard case .array(let operations)? = list else { return list }
        let kept = operations.filter { operation in
            guard let name = operation["name"]?.stringValue else { return false }
            return allowed.contains(name.hasPrefix("$") ? String(name.dropFirst()) : name)
        }
        return kept.isEmpty ? nil : .array(kept)
    }

    /// Every string that starts with the upstream base, rewritten to the public base.
    static func rewritingURLs(_ value: JSONValue, _ rewriter: URLRewriter) -> JSONValue {
        switch value {
        case .string(let text): .string(rewriter.rewrite(text) ?? text)
        case .array(let items): .array(items.map { rewritingURLs($0, rewriter) })
        case .object(let object):
            .object(JSONObject(object.members.map { ($0.key, rewritingURLs($0.value, rewriter)) }))
        default: value
        }
    }
}
