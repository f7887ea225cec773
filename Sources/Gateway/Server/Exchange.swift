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
    /// Set by `/auth/introspect` (Sources/Gateway/Auth/Exchange+Introspect.swift): its audit subject.
    var introspectionAudit: AuditIntrospection?
    /// Why the gateway refused the request, for the access log (never sent to the requester).
    var refusal: String?
    /// Batch and transaction entries decided so far, each audited as an interaction of its own (BALP).
    var entryAudits: [EntryAudit] = []
    /// The policy decision on the batch entry being authorized (`evaluatePolicy` with `isEntry`).
    var entryDecision: PolicyDecision?

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
            guard request.method == "GET" || request.method == "HEAD" else { return refuse(Self.methodNotAllowed(allow: "GET, HEAD")) }
            send(HTTPResponse(status: 200, headers: jsonHeaders(cacheable: true), body: snapshot.discovery))
        case .jwks:
            routeName = "jwks"
            guard request.method == "GET" || request.method == "HEAD" else { return refuse(Self.methodNotAllowed(allow: "GET, HEAD")) }
            send(Responses.json(services.issuer.jwks(now: now), requestID: requestID, cacheable: true))
        case .token:
            routeName = "token"
            tokenEndpoint()
        case .introspect:
            routeName = "introspect"
            introspectEndpoint()  // Sources/Gateway/Auth/Exchange+Introspect.swift
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

    /// 405 with the `Allow` header RFC 9110 §15.5.6 requires.
    static func methodNotAllowed(allow: String) -> GatewayError {
        GatewayError(status: 405, issueType: .notSupported, "Method not allowed here.", extraHeaders: [("Allow", allow)])
    }

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
        if snapshot.config.auth.mode == "none" { return forward(interaction, plan: ResponsePlan()) }
        if interaction.kind == .batch || interaction.kind == .transaction {
            return authorizeBundle(interaction, principal: principal)
        }
        switch authorize(interaction, principal: principal, isEntry: false) {
        case .failure(let error):
            deny(error)
        case .success(let authorized):
            if authorized.preRead {
                preReadTarget(authorized.interaction, plan: authorized.plan)
            } else {
                forward(authorized.interaction, plan: authorized.plan)
            }
        }
    }

    /// A request (or a batch entry) that passed scopes, compartment and policy, as it is to be forwarded.
    struct Authorized {
        var interaction: Interaction
        var plan: ResponsePlan
        /// The stored target must be read and checked before the write is forwarded (FHIR-18 (b)).
        var preRead: Bool
    }

    /// Scopes, patient compartment and policy for one interaction; the result carries the narrowed
    /// interaction and how its response must be checked.
    func authorize(_ interaction: Interaction, principal: Principal, isEntry: Bool) -> Result<Authorized, any Error> {
        // 1. Scopes: nothing can grant more than the token (SMART 2.2 scopes; SPEC-DIGEST §2).
        let grant: ScopeGrant
        switch ScopeSet(principal.scopes).permits(interaction, patientContext: principal.patient) {
        case .denied(let error): return .failure(error)
        case .allowed(let granted): grant = granted
        }
        // Granular scope constraints (SCP-05): searches are narrowed upstream, and every returned resource
        // of the type is checked too, so an upstream that ignores a parameter cannot widen the answer.
        var plan = ResponsePlan(
            constraints: grant.narrowing + grant.readConstraints, hidesMissing: principal.patient != nil)
        var preRead = false
        // 2. Patient context: every patient the request names must be the token's (SPEC-DIGEST §3).
        if let patient = principal.patient {
            plan.allowed = [patient]
            switch CompartmentCheck.requestDecision(interaction, allowedPatients: [patient]) {
            case .denied(let error):
                return .failure(error)
            case .allowed(let obligations):
                plan.inspect = plan.inspect || obligations.contains(.checkResponse)
                preRead = obligations.contains(.preReadTarget)
            }
        }
        // 3. Policy: forbid beats permit; no permit means deny (ARCHITECTURE §1 step 3).
        let decision = evaluatePolicy(interaction, principal: principal, isEntry: isEntry)
        guard decision.allowed else { return .failure(PolicyDenial(decision)) }
        var forwarded = interaction
        if let error = apply(decision.obligations, to: &forwarded, plan: &plan, principal: principal) {
            return .failure(error)
        }
        if plan.allowed == nil, !interaction.patients.isEmpty,
            decision.obligations.contains(.checkResponseCompartment)
        {
            plan.allowed = interaction.patients
        }
        if Self.isSearch(forwarded.kind) { forwarded.parameters += grant.narrowing }
        return .success(Authorized(interaction: forwarded, plan: plan, preRead: preRead))
    }

    static func isSearch(_ kind: InteractionKind) -> Bool {
        kind == .searchType || kind == .searchSystem || kind == .searchCompartment
    }

    func evaluatePolicy(_ interaction: Interaction, principal: Principal, isEntry: Bool) -> PolicyDecision {
        // `auth.mode: none` loads no policy; nothing is permitted without one (POL-01).
        guard let policies = snapshot.policies else {
            return PolicyDecision(
                allowed: false, matchedRules: [], decidingRule: nil, reason: "No policy is loaded.", obligations: [])
        }
        let decision = policies.evaluate(PolicyInput(
            principal: principal, interaction: interaction, clientAddress: context.remoteAddress.host,
            mtlsSubject: context.tls?.peerSubject, now: now))
        // The audit record names the decision on the request itself; each Bundle entry's decision goes into
        // the entry's own record (Exchange+Bundle.swift).
        if isEntry { entryDecision = decision } else { policyDecision = decision }
        services.metrics.decisions(decision.allowed ? "permit" : "deny").increment()
        if let shadow = decision.shadowDecision, shadow != decision.allowed {
            services.metrics.policyShadowDisagreements.increment()
            logger.notice("shadow policy disagrees", metadata: [
                "policy.decision": decision.allowed ? "permit" : "deny",
                "policy.shadow": shadow ? "permit" : "deny",
                "policy.shadow_rules": decision.shadow.map(\.rule).joined(separator: ","),
            ])
        }
        return decision
    }

    /// Carries out the policy's obligations; returns the refusal when one cannot be met.
    func apply(
        _ obligations: [Obligation], to forwarded: inout Interaction, plan: inout ResponsePlan, principal: Principal
    ) -> (any Error)? {
        for obligation in obligations {
            switch obligation {
            case .checkResponseCompartment:
                plan.inspect = true
            case .narrowSearchToPatient:
                guard let patient = forwarded.patients.first ?? principal.patient else { return Self.cannotNarrow }
                // `Patient/{id}/{type}` is narrowed by its path already (the compartment search itself).
                if forwarded.kind != .searchCompartment {
                    guard let narrowed = CompartmentCheck.narrowed(forwarded, to: patient) else {
                        return Self.cannotNarrow
                    }
                    forwarded = narrowed
                }
                plan.allowed = [patient]
                plan.inspect = true
            case .rateLimit(let limit):
                let key = limit.key(for: PolicyInput(
                    principal: principal, interaction: forwarded, clientAddress: context.remoteAddress.host, now: now))
                let window = Double(limit.period.seconds)
                switch services.rateLimiter.consume(key: key, limit: limit.limit, window: window, now: now) {
                case .allowed: break
                case .exceeded(let retryAfter):
                    return GatewayError(
                        status: 429, issueType: .throttled, "The quota '\(limit.name)' is used up.",
                        extraHeaders: [("Retry-After", String(retryAfter))])
                case .unavailable:
                    return GatewayError(status: 503, issueType: .transient, "Quota state is unavailable.")
                }
            case .auditDetail:
                break
            }
        }
        return nil
    }

    static let cannotNarrow = GatewayError(
        status: 403, issueType: .forbidden, "The search cannot be narrowed to one patient.")

    // MARK: - Forwarding and inspection

    /// Sends the request upstream. Every JSON response is buffered and passed through the inspector, which
    /// rewrites upstream URLs (sekmet-fhir and many servers write their own base into links) and, when the
    /// plan says so, withholds resources of patients outside `plan.allowed`.
    func forward(_ interaction: Interaction, plan: ResponsePlan) {
        send(upstream: buildUpstreamRequest(interaction)) { exchange, response in
            exchange.relay(response, interaction: interaction, plan: plan)
        }
    }

    /// One upstream round trip, resumed on the exchange's loop; a transport failure ends the exchange.
    func send(upstream: HTTPRequest, then: @escaping (Exchange, HTTPResponse) -> Void) {
        let bound = LoopBound(self, on: context.eventLoop)
        let thenBox = UnsafeSendableResponseClosure(then)
        pool.send(upstream, maxBodyBytes: snapshot.config.upstream.maxInspectedBodyBytes) { result in
            bound.run { exchange in
                switch result {
                case .success(let response): thenBox.body(exchange, response)
                case .failure(let error): exchange.fail(error)
                }
            }
        }
    }

    /// FHIR-18 (b): before an update, patch or delete of a resource whose id says nothing about its
    /// patient, the stored resource is read and checked against the compartment. Anything but a released
    /// 200 (another patient's resource, a missing one, an upstream error) is the same 403, so the write is
    /// no existence oracle; create-on-update with a client-assigned id is therefore refused (pinned).
    func preReadTarget(_ interaction: Interaction, plan: ResponsePlan) {
        guard let type = interaction.resourceType, let id = interaction.id else {
            return deny(FHIRRequestError.accessDenied)
        }
        let target = UpstreamRequestBuilder.upstreamTarget(
            basePath: snapshot.config.upstream.basePath, segments: [type, id], query: [])
        var headers = HTTPHeaders()
        headers.add("Accept", "application/fhir+json")
        let read = UpstreamRequestBuilder.build(
            method: "GET", upstreamTarget: target, headers: headers, body: [], context: forwardingContext,
            upstreamAuthorization: snapshot.config.upstream.authorization, allowCompression: false)
        send(upstream: read) { exchange, response in
            var readInteraction = Interaction(kind: .read, method: "GET", resourceType: type, id: id)
            readInteraction.patients = interaction.patients
            guard response.status == 200, (response.headers["content-type"] ?? "").contains("json") else {
                return exchange.deny(FHIRRequestError.accessDenied)
            }
            let result = ResponseInspector.inspect(
                body: response.body, interaction: readInteraction, allowedPatients: plan.allowed ?? [],
                upstreamBase: exchange.snapshot.upstreamBaseURL, publicBase: exchange.snapshot.config.publicFHIRBase)
            guard result.verdict == .release, !result.body.isEmpty else {
                return exchange.deny(FHIRRequestError.accessDenied)
            }
            exchange.forward(interaction, plan: plan)
        }
    }

    func buildUpstreamRequest(_ interaction: Interaction) -> HTTPRequest {
        let upstream = snapshot.config.upstream
        let segments = request.path.split(separator: "/").dropFirst(snapshot.router.baseSegments.count)
            .map(String.init)
        var method = request.method
        var body = request.body
        var headers = request.headers
        var pathSegments = segments
        let query: [(String, String)]
        if Self.isSearch(interaction.kind) {
            // FHIR-15: a POST `_search` goes upstream as the equivalent GET, rebuilt from the parameters the
            // gateway parsed and authorized, so the upstream cannot read a parameter the gateway did not.
            if method == "POST" {
                method = "GET"
                body = []
                headers.remove("content-type")
                if segments.last == "_search" { pathSegments.removeLast() }
            }
            // SCP-05 (d): the upstream must fail on a parameter it does not know rather than ignore it and
            // return more (FHIR R4 search §3.1.1.4 "handling"); the client's own preference never relaxes it.
            headers.remove("prefer")
            headers.add("Prefer", "handling=strict")
            query = Self.encodedQuery(interaction.parameters)
        } else if method == "GET" || method == "HEAD" {
            query = Self.encodedQuery(interaction.parameters)
        } else {
            query = Self.rawQueryPairs(request.query)
        }
        // What is forwarded is exactly what was checked (Interaction.resource): the parsed JSON body,
        // re-serialised, never the client's bytes (FHIR-20 parser differentials).
        if !body.isEmpty, method != "GET", let resource = interaction.resource,
            interaction.kind != .operation || request.headers["content-type"]?.contains("json") == true
        {
            body = resource.serialized()
        }
        let target = UpstreamRequestBuilder.upstreamTarget(
            basePath: upstream.basePath, segments: pathSegments, query: query)
        return UpstreamRequestBuilder.build(
            method: method, upstreamTarget: target, headers: headers, body: body, context: forwardingContext,
            upstreamAuthorization: upstream.authorization, allowCompression: false)
    }

    var forwardingContext: ForwardingContext {
        ForwardingContext(
            peerAddress: context.remoteAddress.host, requestHost: request.headers["host"], requestID: requestID)
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
            let raw = parts.count > 1 ? String(parts[1]).replacingOccurrences(of: "+", with: " ") : ""
            let value = raw.removingPercentEncoding ?? ""
            return (name, value)
        }
    }

    /// True when `needle` occurs in `haystack` (a first-byte scan; the needle is a short URL).
    static func bytes(_ haystack: [UInt8], contain needle: [UInt8]) -> Bool {
        guard let first = needle.first, haystack.count >= needle.count else { return needle.isEmpty }
        return haystack.withUnsafeBufferPointer { h in
            needle.withUnsafeBufferPointer { n in
                var i = 0
                let last = h.count - n.count
                while i <= last {
                    if h[i] == first, memcmp(h.baseAddress! + i, n.baseAddress!, n.count) == 0 { return true }
                    i += 1
                }
                return false
            }
        }
    }

    func relay(_ upstream: HTTPResponse, interaction: Interaction, plan: ResponsePlan) {
        // FHIR-01/02: for a patient-context token a missing or deleted target answers exactly like another
        // patient's resource (attack-cases "Decisions already taken" (2)).
        if plan.hidesMissing,
            let replacement = ResponseInspector.replacement(
                forUpstreamStatus: upstream.status, interaction: interaction)
        {
            return deny(replacement)
        }
        // SCP-05 (e): an upstream that refuses a granular constraint it was sent must not turn into an
        // answer without it; the gateway cannot enforce the scope, so this is the gateway's failure.
        if !plan.constraints.isEmpty, upstream.status == 400, Self.isSearch(interaction.kind) {
            return fail(GatewayError(
                status: 502, issueType: .exception, "The upstream cannot apply the scope's search constraint."))
        }
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
        // Nothing to check and nothing to rewrite: the upstream's bytes go out as they came (ARCHITECTURE §1
        // step 5: "otherwise the body streams through"). Every response under an obligation, every operation
        // and every body that names the upstream's base is parsed and inspected below.
        if !plan.inspect, plan.constraints.isEmpty, plan.batchSlots == nil, interaction.operation == nil,
            !Self.bytes(upstream.body, contain: snapshot.upstreamBaseBytes)
        {
            headers.add("Content-Type", Responses.fhirJSON)
            let response = HTTPResponse(status: upstream.status, headers: headers, body: upstream.body)
            if upstream.status >= 400 {
                return record(.failure(status: upstream.status), description: nil) { $0.send(response) }
            }
            return succeed(response)
        }
        let allowed = plan.inspect ? plan.allowed ?? [] : nil
        let result = ResponseInspector.inspect(
            body: upstream.body, interaction: interaction, allowedPatients: allowed,
            upstreamBase: snapshot.upstreamBaseURL, publicBase: snapshot.config.publicFHIRBase,
            scopeConstraints: upstream.status < 300 ? plan.constraints : [],
            linkCheck: allowed.map { allowed in { [snapshot] url in Self.linkAllowed(url, allowed, snapshot) } })
        responsePatients = result.patientsReleased
        switch result.verdict {
        case .deny(let error):
            deny(error)
        case .release:
            var body = result.body
            settleEntryAudits(answers: body, upstreamStatus: upstream.status)
            if let slots = plan.batchSlots, upstream.status < 300 {
                guard let merged = Self.mergeBatchResponse(body, slots: slots) else {
                    return fail(ResponseInspector.uninspectable)
                }
                body = merged
            }
            headers.add("Content-Type", Responses.fhirJSON)
            let response = HTTPResponse(status: upstream.status, headers: headers, body: body)
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
        // The requester sees the public message; the log and the audit record also get the precise cause
        // (a wrong audience, an expired token, the policy rule), which never contains token material.
        let detail = String(describing: error)
        refusal = detail
        let description = detail == responseError.publicMessage ? detail : responseError.publicMessage + " [" + detail + "]"
        record(.denied(status: responseError.status), description: description) { exchange in
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
    /// client gets 503 instead (issue #7: never silently unaudited). With `audit.enabled: false` (loopback
    /// load-test comparisons only, warned about at start) no record is built or written.
    func record(_ outcome: AuditInput.Outcome, description: String?, then: @escaping (Exchange) -> Void) {
        guard snapshot.config.audit.enabled, ["fhir", "token", "introspect", "other"].contains(routeName) else {
            return then(self)
        }
        // The request's own record first, then one per Bundle entry, in the chain in that order.
        let events = [services.auditBuilder.canonicalEvent(auditInput(outcome, description: description))]
            + entryAuditEvents(bundleOutcome: outcome)
        let bound = LoopBound(self, on: context.eventLoop)
        let thenBox = UnsafeSendableClosure(then)
        let gate = AuditGate(count: events.count) { failure in
            bound.run { exchange in
                guard let failure else { return thenBox.body(exchange) }
                exchange.services.metrics.auditFailures.increment()
                exchange.logger.error("audit record not durable; answering 503", error: failure)
                exchange.send(Responses.error(failure, requestID: exchange.requestID))
            }
        }
        for event in events {
            services.auditSink.append(canonicalEvent: event) { gate.complete($0) }
        }
    }

    func auditInput(_ outcome: AuditInput.Outcome, description: String?) -> AuditInput {
        let path = String(request.path)
        let subject: AuditInput.Subject
        if let tokenAudit {
            subject = .tokenRequest(tokenAudit)
        } else if let introspectionAudit {
            subject = .introspection(introspectionAudit)
        } else {
            subject = .fhir(interaction ?? Interaction(kind: .operation, method: request.method, operation: "unclassified"))
        }
        let client: AuditClient? = principal.map {
            AuditClient(id: $0.clientID, name: $0.client?.name, issuer: $0.issuer)
        } ?? tokenClientID.map { AuditClient(id: $0) }
        let decision = policyDecision.map(Self.auditDecision)
        return AuditInput(
            time: now, outcome: outcome, outcomeDescription: description, subject: subject,
            request: AuditHTTPRequest(
                method: request.method, path: path, query: request.query.map(String.init), host: request.headers["host"]),
            client: client, peerAddress: context.remoteAddress.host, requestID: requestID, decision: decision,
            tokenJTI: principal?.tokenID,
            responsePatients: responsePatients.sorted().map { AuditPatient.id($0) })
    }

    static func auditDecision(_ decision: PolicyDecision) -> AuditDecision {
        AuditDecision(
            permitted: decision.allowed, rule: decision.decidingRule, reason: decision.reason,
            shadowPermitted: decision.shadowDecision, shadowRules: decision.shadow.map(\.rule))
    }

    func send(_ response: HTTPResponse) {
        var response = response
        if !response.headers.contains("x-request-id") { response.headers.add("X-Request-ID", requestID) }
        if request.method == "HEAD" { response.body = [] }
        services.metrics.responses(status: response.status, route: routeName).increment()
        services.metrics.requestDuration.observe(Double(monotonicNanos() - startedAt) / 1e9)
        // One access-log line per request (no query string: it can name patients).
        logger.info("request", metadata: {
            var metadata = [
                "http.method": request.method, "http.path": String(request.path), "http.status": String(response.status),
                "http.route": routeName, "client.address": context.remoteAddress.host,
            ]
            if let client = principal?.clientID ?? tokenClientID { metadata["client.id"] = client }
            if let refusal { metadata["refusal.reason"] = refusal }
            return metadata
        }())
        responder.respond(response)
    }
}

/// How an upstream answer must be checked before it is released.
struct ResponsePlan {
    /// Check the response against the patient compartment of `allowed` (URLs are rewritten and
    /// `constraints` checked whatever this says).
    var inspect = false
    /// The patients whose resources may be released; nil for no patient restriction.
    var allowed: Set<String>?
    /// Granular scope constraints every returned resource of the interaction's type must satisfy (SCP-05).
    var constraints: [SearchParameter] = []
    /// A patient-context token: a 404/410 on an instance interaction answers like a forbidden target.
    var hidesMissing = false
    /// For a batch: the response entry of each posted entry, nil where the upstream's answer goes (in order).
    var batchSlots: [JSONValue?]?
}

/// A non-Sendable closure carried to the loop it was made on (used only through `LoopBound.run`).
struct UnsafeSendableResponseClosure: @unchecked Sendable {
    // Safe: as `UnsafeSendableClosure`: made on the exchange's loop, only invoked inside `LoopBound.run`.
    let body: (Exchange, HTTPResponse) -> Void
    init(_ body: @escaping (Exchange, HTTPResponse) -> Void) { self.body = body }
}

/// A non-Sendable closure carried to the loop it was made on (used only through `LoopBound.run`).
struct UnsafeSendableClosure: @unchecked Sendable {
    // Safe: the closure is created on the exchange's loop and only invoked inside `LoopBound.run`, which
    // executes on that same loop.
    let body: (Exchange) -> Void
    init(_ body: @escaping (Exchange) -> Void) { self.body = body }
}
