// One request's way through the gateway (ARCHITECTURE §1): route, authenticate, classify, authorize
// (scopes, patient compartment, policy), forward, inspect, audit, respond. An `Exchange` lives on the
// event loop of the connection it came from; every step after an asynchronous one resumes on that loop.
//
// Fail closed everywhere: an error at any step is a refusal, and a response leaves only after its audit
// record is durable (a failed audit write turns any answer into 503).

import Audit
import FHIR
import Foundation
import GatewayCore
import GatewayHTTP
import GatewayIO
import Policy
import SMART
import SharedState

final class Exchange {
    let services: GatewayServices
    let snapshot: GatewaySnapshot
    let request: HTTPRequest
    let context: HTTPRequestContext
    let responder: HTTPResponder
    let pool: UpstreamPool
    let requestID: String
    let startedAt: UInt64
    let logger: Logger

    /// Facts gathered on the way, for the audit record.
    var routeName = "other"
    var principal: Principal?
    var interaction: Interaction?
    var policyDecision: PolicyDecision?
    var responsePatients: Set<String> = []
    var tokenAudit: AuditTokenRequest?
    var tokenClientID: String?

    init(
        services: GatewayServices, request: HTTPRequest, context: HTTPRequestContext, responder: HTTPResponder,
        pool: UpstreamPool
    ) {
        self.services = services
        self.snapshot = services.snapshot
        self.request = request
        self.context = context
        self.responder = responder
        self.pool = pool
        // X-Request-ID: the client's when well formed (ARCHITECTURE §1 step 4), else a new one.
        if let given = request.headers["x-request-id"], RequestID.isWellFormed(given) {
            requestID = given
        } else {
            requestID = RandomID.uuid()
        }
        startedAt = monotonicNanos()
        logger = services.logger.with(["request.id": requestID])
    }

    var now: Double { services.clock.now() }

    // MARK: - Routing

    func start() {
        let route: Route
        do {
            route = try snapshot.router.route(Router.canonicalSegments(request.path))
        } catch {
            return refuse(error)
        }
        switch route {
        case .smartConfiguration:
            routeName = "discovery"
            guard request.method == "GET" || request.method == "HEAD" else { return refuse(Self.methodNotAllowed) }
            send(HTTPResponse(status: 200, headers: jsonHeaders(cacheable: true), body: snapshot.discovery))
        case .jwks:
            routeName = "jwks"
            guard request.method == "GET" || request.method == "HEAD" else { return refuse(Self.methodNotAllowed) }
            send(Responses.json(services.issuer.jwks(now: now), requestID: requestID, cacheable: true))
        case .token:
            routeName = "token"
            tokenEndpoint()
        case .introspect:
            routeName = "introspect"
            refuse(GatewayError(status: 501, issueType: .notSupported, "Token introspection is not offered yet."))
        case .capabilities:
            routeName = "metadata"
            capabilities()
        case .fhir:
            routeName = "fhir"
            fhir()
        case .notFound:
            refuse(GatewayError(status: 404, issueType: .notFound, "No such endpoint."))
        }
    }

    static let methodNotAllowed = GatewayError(status: 405, issueType: .notSupported, "Method not allowed here.")

    func jsonHeaders(cacheable: Bool) -> HTTPHeaders {
        HTTPHeaders([
            ("Content-Type", "application/json"), ("Cache-Control", cacheable ? "public, max-age=300" : "no-store"),
            ("X-Request-ID", requestID),
        ])
    }

    // MARK: - The FHIR pipeline

    func fhir() {
        // HDR-02: more than one Authorization header is ambiguous; refuse before looking at either.
        let authorizations = request.headers.values("authorization")
        guard authorizations.count <= 1 else {
            return deny(GatewayError.badRequest("More than one Authorization header."))
        }
        if snapshot.config.auth.mode == "none" {
            principal = Principal(clientID: "anonymous", issuer: "none", scopes: ["system/*.*"], expiresAt: .infinity)
            return classifyAndAuthorize()
        }
        // HDR-05 (c): the token-size limit applies before any parsing.
        if let value = authorizations.first, value.utf8.count > snapshot.config.limits.tokenBytes + 7 {
            return deny(GatewayError(status: 431, issueType: .tooLong, "The bearer token is too large."))
        }
        let bound = LoopBound(self, on: context.eventLoop)
        services.validator.validate(authorization: authorizations.first, now: now) { result in
            bound.run { exchange in
                switch result {
                case .success(let principal):
                    exchange.principal = principal
                    exchange.classifyAndAuthorize()
                case .failure(let error):
                    exchange.deny(error)
                }
            }
        }
    }

    func classifyAndAuthorize() {
        guard let principal else { return deny(GatewayError(status: 401, issueType: .login, "Not authenticated.")) }
        let interaction: Interaction
        do {
            interaction = try snapshot.classifier.classify(
                method: request.method, target: request.target, contentType: request.headers["content-type"],
                body: request.body, ifNoneExist: request.headers["if-none-exist"],
                headerNames: request.headers.map(\.name))
        } catch {
            return deny(error)
        }
        self.interaction = interaction
        if snapshot.config.auth.mode == "none" { return forward(interaction, inspect: false, allowed: nil) }

        // 1. Scopes: nothing can grant more than the token (SMART 2.2 scopes; SPEC-DIGEST §2).
        let scopes = ScopeSet(principal.scopes)
        if case .denied(let error) = scopes.permits(interaction, patientContext: principal.patient) {
            return deny(error)
        }
        // 2. Patient context: every patient the request names must be the token's (SPEC-DIGEST §3).
        var inspect = false
        var allowedPatients: Set<String>?
        if let patient = principal.patient {
            allowedPatients = [patient]
            switch CompartmentCheck.requestDecision(interaction, allowedPatients: [patient]) {
            case .denied(let error): return deny(error)
            case .allowed(let obligations): inspect = inspect || obligations.contains(.checkResponse)
            }
        }
        // 3. Policy: forbid beats permit; no permit means deny (ARCHITECTURE §1 step 3).
        guard let policies = snapshot.policies else { return deny(GatewayError(status: 403, issueType: .forbidden, "No policy is loaded.")) }
        let decision = policies.evaluate(PolicyInput(
            principal: principal, interaction: interaction, clientAddress: context.remoteAddress.host,
            mtlsSubject: context.tls?.peerSubject, now: now))
        policyDecision = decision
        services.metrics.decisions(decision.allowed ? "permit" : "deny").increment()
        if let shadow = decision.shadowDecision, shadow != decision.allowed {
            services.metrics.policyShadowDisagreements.increment()
            logger.notice("shadow policy disagrees", metadata: [
                "policy.decision": decision.allowed ? "permit" : "deny",
                "policy.shadow": shadow ? "permit" : "deny",
                "policy.shadow_rules": decision.shadow.map(\.rule).joined(separator: ","),
            ])
        }
        guard decision.allowed else { return deny(PolicyDenial(decision)) }

        var forwarded = interaction
        for obligation in decision.obligations {
            switch obligation {
            case .checkResponseCompartment:
                inspect = true
            case .narrowSearchToPatient:
                guard let patient = interaction.patients.first ?? principal.patient,
                      let narrowed = CompartmentCheck.narrowed(forwarded, to: patient)
                else { return deny(GatewayError(status: 403, issueType: .forbidden, "The search cannot be narrowed to one patient.")) }
                forwarded = narrowed
                allowedPatients = [patient]
                inspect = true
            case .rateLimit(let limit):
                let key = limit.key(for: PolicyInput(
                    principal: principal, interaction: interaction, clientAddress: context.remoteAddress.host,
                    now: now))
                switch services.rateLimiter.consume(key: key, limit: limit.limit, window: Double(limit.period.seconds), now: now) {
                case .allowed: break
                case .exceeded(let retryAfter):
                    return deny(GatewayError(
                        status: 429, issueType: .throttled, "The quota '\(limit.name)' is used up.",
                        extraHeaders: [("Retry-After", String(retryAfter))]))
                case .unavailable:
                    return deny(GatewayError(status: 503, issueType: .transient, "Quota state is unavailable."))
                }
            case .auditDetail:
                break
            }
        }
        if allowedPatients == nil, !interaction.patients.isEmpty, decision.obligations.contains(.checkResponseCompartment) {
            allowedPatients = interaction.patients
        }
        forward(forwarded, inspect: inspect, allowed: allowedPatients)
    }

    // MARK: - Forwarding and inspection

    /// Sends the request upstream. Every JSON response is buffered and passed through the inspector, which
    /// rewrites upstream URLs (sekmet-fhir and many servers write their own base into links) and, when
    /// `inspect` is set, withholds resources of patients outside `allowed`.
    func forward(_ interaction: Interaction, inspect: Bool, allowed: Set<String>?) {
        let upstreamRequest = buildUpstreamRequest(interaction)
        let bound = LoopBound(self, on: context.eventLoop)
        pool.send(upstreamRequest, maxBodyBytes: snapshot.config.upstream.maxInspectedBodyBytes) { result in
            bound.run { exchange in
                switch result {
                case .success(let response):
                    exchange.relay(response, interaction: interaction, inspect: inspect, allowed: allowed)
                case .failure(let error):
                    exchange.fail(error)
                }
            }
        }
    }

    func buildUpstreamRequest(_ interaction: Interaction) -> HTTPRequest {
        let upstream = snapshot.config.upstream
        let segments = Array(request.path.split(separator: "/").dropFirst(snapshot.router.baseSegments.count).map(String.init))
        var method = request.method
        var body = request.body
        var query: [(String, String)]
        var headers = request.headers
        if interaction.kind == .searchType || interaction.kind == .searchSystem || interaction.kind == .searchCompartment,
           method == "POST" {
            // FHIR-15: a POST `_search` goes upstream as the equivalent GET, rebuilt from the parameters the
            // gateway parsed and authorized, so the upstream cannot read a parameter the gateway did not.
            method = "GET"
            body = []
            headers.remove("content-type")
            query = Self.encodedQuery(interaction.parameters)
            let pathSegments = segments.last == "_search" ? Array(segments.dropLast()) : segments
            let target = UpstreamRequestBuilder.upstreamTarget(basePath: upstream.basePath, segments: pathSegments, query: query)
            return UpstreamRequestBuilder.build(
                method: method, upstreamTarget: target, headers: headers, body: body, context: forwardingContext,
                upstreamAuthorization: upstream.authorization, allowCompression: false)
        }
        query = interaction.kind == .batch || interaction.kind == .transaction || method != "GET" && method != "HEAD"
            ? Self.rawQueryPairs(request.query) : Self.encodedQuery(interaction.parameters)
        let target = UpstreamRequestBuilder.upstreamTarget(basePath: upstream.basePath, segments: segments, query: query)
        return UpstreamRequestBuilder.build(
            method: method, upstreamTarget: target, headers: headers, body: body, context: forwardingContext,
            upstreamAuthorization: upstream.authorization, allowCompression: false)
    }

    var forwardingContext: ForwardingContext {
        ForwardingContext(peerAddress: context.remoteAddress.host, requestHost: request.headers["host"], requestID: requestID)
    }

    /// Query pairs rebuilt from parsed search parameters (values re-joined with `,`, commas inside a value
    /// escaped as `\,` per FHIR R4 search §3.1.1.5).
    static func encodedQuery(_ parameters: [SearchParameter]) -> [(String, String)] {
        parameters.map { parameter in
            var name = parameter.name
            if let modifier = parameter.modifier { name += ":" + modifier }
            if let chain = parameter.chain { name += "." + chain }
            let value = parameter.values.map { $0.replacingOccurrences(of: ",", with: "\\,") }.joined(separator: ",")
            return (name, value)
        }
    }

    /// Decoded pairs of the raw query, for the request kinds whose query the classifier does not model.
    static func rawQueryPairs(_ query: Substring?) -> [(String, String)] {
        guard let query, !query.isEmpty else { return [] }
        return query.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0]).removingPercentEncoding ?? String(parts[0])
            let value = parts.count > 1 ? (String(parts[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "") : ""
            return (name, value)
        }
    }

    func relay(_ upstream: HTTPResponse, interaction: Interaction, inspect: Bool, allowed: Set<String>?) {
        var headers = HTTPHeaders([("X-Request-ID", requestID), ("Cache-Control", "no-store")])
        let rewriter = URLRewriter(upstreamBase: snapshot.upstreamBaseURL, publicBase: snapshot.config.publicFHIRBase)
        for name in ["Location", "Content-Location"] {
            if let value = upstream.headers[name], let rewritten = rewriter.rewriteHeader(value) {
                headers.add(name, rewritten)
            }
        }
        for name in ["ETag", "Last-Modified"] {
            if let value = upstream.headers[name] { headers.add(name, value) }
        }
        let contentType = upstream.headers["content-type"] ?? ""
        let isJSON = contentType.contains("json")
        if upstream.body.isEmpty {
            return succeed(HTTPResponse(status: upstream.status, headers: headers, body: []))
        }
        guard isJSON else {
            // Nothing the gateway cannot inspect is relayed (POL-01 (c)): non-JSON bodies become an
            // OperationOutcome carrying the upstream's status.
            let error = GatewayError(
                status: upstream.status >= 400 ? upstream.status : 502, issueType: .exception,
                "The upstream answered with a body the gateway cannot inspect.")
            return upstream.status >= 400 ? finishFailure(error) : fail(error)
        }
        let result = ResponseInspector.inspect(
            body: upstream.body, interaction: interaction, allowedPatients: inspect ? allowed ?? [] : nil,
            upstreamBase: snapshot.upstreamBaseURL, publicBase: snapshot.config.publicFHIRBase)
        responsePatients = result.patientsReleased
        switch result.verdict {
        case .deny(let error):
            deny(error)
        case .release:
            headers.add("Content-Type", Responses.fhirJSON)
            let response = HTTPResponse(status: upstream.status, headers: headers, body: result.body)
            if upstream.status >= 400 {
                record(.failure(status: upstream.status), description: nil) { $0.send(response) }
            } else {
                succeed(response)
            }
        }
    }

    // MARK: - Endings (every one audited)

    func succeed(_ response: HTTPResponse) {
        record(.success, description: nil) { $0.send(response) }
    }

    /// A refusal decided by the gateway (401, 403, 400, 429, ...).
    func deny(_ error: any Error) {
        let responseError = Self.responseError(error)
        record(.denied(status: responseError.status), description: responseError.publicMessage) { exchange in
            exchange.send(Responses.error(responseError, requestID: exchange.requestID))
        }
    }

    /// An upstream or internal failure (502, 504, 500).
    func fail(_ error: any Error) {
        let responseError = Self.responseError(error)
        logger.warning("request failed", metadata: ["error.status": String(responseError.status)], error: error)
        finishFailure(responseError)
    }

    func finishFailure(_ error: any HTTPResponseError) {
        record(.failure(status: error.status), description: error.publicMessage) { exchange in
            exchange.send(Responses.error(error, requestID: exchange.requestID))
        }
    }

    /// A refusal before anything was classified (bad path, unknown route): audited as a denial.
    func refuse(_ error: any Error) {
        deny(error)
    }

    static func responseError(_ error: any Error) -> any HTTPResponseError {
        if let error = error as? any HTTPResponseError { return error }
        return GatewayError(status: 500, issueType: .exception, "Internal error.")
    }

    /// Writes the audit record, then runs `then` on the loop; if the record cannot be made durable the
    /// client gets 503 instead (issue #7: never silently unaudited).
    func record(_ outcome: AuditInput.Outcome, description: String?, then: @escaping (Exchange) -> Void) {
        guard routeName == "fhir" || routeName == "token" || routeName == "other" else {
            return then(self)
        }
        let event = services.auditBuilder.build(auditInput(outcome, description: description))
        let bound = LoopBound(self, on: context.eventLoop)
        let thenBox = UnsafeSendableClosure(then)
        services.auditSink.append(event) { result in
            bound.run { exchange in
                switch result {
                case .success:
                    thenBox.body(exchange)
                case .failure(let error):
                    exchange.services.metrics.auditFailures.increment()
                    exchange.logger.error("audit record not durable; answering 503", error: error)
                    exchange.send(Responses.error(error, requestID: exchange.requestID))
                }
            }
        }
    }

    func auditInput(_ outcome: AuditInput.Outcome, description: String?) -> AuditInput {
        let path = String(request.path)
        let subject: AuditInput.Subject
        if let tokenAudit {
            subject = .tokenRequest(tokenAudit)
        } else {
            subject = .fhir(interaction ?? Interaction(kind: .operation, method: request.method, operation: "unclassified"))
        }
        let client: AuditClient? = principal.map {
            AuditClient(id: $0.clientID, name: $0.client?.name, issuer: $0.issuer)
        } ?? tokenClientID.map { AuditClient(id: $0) }
        let decision = policyDecision.map {
            AuditDecision(permitted: $0.allowed, rule: $0.decidingRule, reason: $0.reason)
        }
        return AuditInput(
            time: now, outcome: outcome, outcomeDescription: description, subject: subject,
            request: AuditHTTPRequest(
                method: request.method, path: path, query: request.query.map(String.init), host: request.headers["host"]),
            client: client, peerAddress: context.remoteAddress.host, requestID: requestID, decision: decision,
            tokenJTI: principal?.tokenID,
            responsePatients: responsePatients.sorted().map { AuditPatient.id($0) })
    }

    func send(_ response: HTTPResponse) {
        var response = response
        if !response.headers.contains("x-request-id") { response.headers.add("X-Request-ID", requestID) }
        if request.method == "HEAD" { response.body = [] }
        services.metrics.responses(status: response.status, route: routeName).increment()
        services.metrics.requestDuration.observe(Double(monotonicNanos() - startedAt) / 1e9)
        logger.debug("response", metadata: ["http.status": String(response.status), "http.route": routeName])
        responder.respond(response)
    }
}

/// A non-Sendable closure carried to the loop it was made on (used only through `LoopBound.run`).
struct UnsafeSendableClosure: @unchecked Sendable {
    // Safe: the closure is created on the exchange's loop and only invoked inside `LoopBound.run`, which
    // executes on that same loop.
    let body: (Exchange) -> Void
    init(_ body: @escaping (Exchange) -> Void) { self.body = body }
}
