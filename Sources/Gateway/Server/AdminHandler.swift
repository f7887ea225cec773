// The admin listener (ARCHITECTURE §4): health, readiness, Prometheus metrics, reload and requester
// registration. It has no authentication of its own and listens on loopback by default.

import Audit
import Foundation
import GatewayCore
import GatewayHTTP
import GatewayIO
import SMART
import SharedState

final class AdminHandler: HTTPServerHandler {
    let services: GatewayServices
    let loop: EventLoop

    init(services: GatewayServices, loop: EventLoop) {
        self.services = services
        self.loop = loop
    }

    func handle(_ request: HTTPRequest, context: HTTPRequestContext, responder: HTTPResponder) {
        switch (request.method, String(request.path)) {
        case ("GET", "/healthz"):
            responder.respond(text(200, "ok\n"))
        case ("GET", "/readyz"):
            readiness(responder)
        case ("GET", "/metrics"):
            var response = text(200, services.metrics.registry.render())
            response.headers.set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            responder.respond(response)
        case ("POST", "/admin/reload"):
            reload(responder)
        case ("GET", "/admin/clients"):
            responder.respond(listClients())
        case ("POST", "/admin/clients"):
            responder.respond(registerClient(request.body))
        case ("POST", "/admin/revoke"):
            responder.respond(revoke(request.body))
        default:
            responder.respond(Responses.error(GatewayError(status: 404, issueType: .notFound, "No such admin endpoint."), requestID: nil))
        }
    }

    func text(_ status: Int, _ body: String) -> HTTPResponse {
        HTTPResponse(status: status, headers: HTTPHeaders([("Content-Type", "text/plain; charset=utf-8")]), body: Array(body.utf8))
    }

    /// Ready when the audit sink can write, the shared state (Redis) answers and the upstream answers its
    /// CapabilityStatement.
    func readiness(_ responder: HTTPResponder) {
        guard services.auditSink.isAvailable else { return responder.respond(text(503, "audit sink unavailable\n")) }
        if case .unavailable(let reason) = services.sharedState.status {
            return responder.respond(text(503, "shared state unavailable (\(services.sharedState.backend)): \(reason)\n"))
        }
        guard let runtime = services.runtime.runtime else { return responder.respond(text(503, "starting\n")) }
        let pool = runtime.handlers.value(for: loop).pool
        let config = services.snapshot.config
        let target = UpstreamRequestBuilder.upstreamTarget(basePath: config.upstream.basePath, segments: ["metadata"], query: [])
        var headers = HTTPHeaders([("Accept", "application/fhir+json")])
        if let credential = config.upstream.authorization { headers.add("Authorization", credential) }
        pool.send(HTTPRequest(method: "GET", target: target, headers: headers), maxBodyBytes: 16 << 20) { [self] result in
            switch result {
            case .success(let response) where response.status == 200:
                responder.respond(text(200, "ready\n"))
            case .success(let response):
                responder.respond(text(503, "upstream answered \(response.status)\n"))
            case .failure(let error):
                responder.respond(text(503, "upstream unreachable: \(error.publicMessage)\n"))
            }
        }
    }

    func reload(_ responder: HTTPResponder) {
        guard let runtime = services.runtime.runtime else { return responder.respond(text(503, "starting\n")) }
        let bound = LoopBound(responder, on: loop)
        // Reloading reads files: off the event loop.
        DispatchQueue.global().async {
            let problems = runtime.reload()
            let body: JSONValue = problems.isEmpty
                ? ["status": "reloaded"] : ["status": "refused", "errors": .array(problems.map(JSONValue.string))]
            bound.run { responder in
                responder.respond(Responses.json(body, status: problems.isEmpty ? 200 : 422, requestID: nil))
            }
        }
    }

    func listClients() -> HTTPResponse {
        let path = services.snapshot.config.auth.clientsFile
        do {
            let entries = try ClientsFile.load(path: path)
            return Responses.json(.array(entries.map(ClientCommands.summary)), requestID: nil)
        } catch {
            return Responses.json(["error": .string("\(error)")], status: 500, requestID: nil)
        }
    }

    /// Registers (or replaces) a requester from a JSON body, validates its key set, saves `clients.yaml`
    /// and reloads so that it applies at once.
    func registerClient(_ body: [UInt8]) -> HTTPResponse {
        let path = services.snapshot.config.auth.clientsFile
        do {
            let entry = try ClientCommands.entry(fromJSON: JSONValue.parse(body))
            try ClientCommands.upsert(entry, path: path)
            let problems = services.runtime.runtime?.reload() ?? []
            guard problems.isEmpty else {
                return Responses.json(["status": "saved, reload refused", "errors": .array(problems.map(JSONValue.string))], status: 422, requestID: nil)
            }
            return Responses.json(ClientCommands.summary(entry), status: 201, requestID: nil)
        } catch {
            return Responses.json(["error": "invalid_client_metadata", "error_description": .string("\(error)")], status: 400, requestID: nil)
        }
    }

    /// Revokes one access token (`{"jti": ...}`) or every token of a client (`{"client_id": ...}`) on every
    /// instance, for `ttl` seconds (default 24 h, at most 30 days). 200 when shared with every instance;
    /// 202 when only this instance applies it yet (Redis unreachable; it is written when Redis answers).
    func revoke(_ body: [UInt8]) -> HTTPResponse {
        let request: JSONValue
        do {
            request = try JSONValue.parse(body)
        } catch {
            return revokeError("the body is not valid JSON: \(error)")
        }
        guard let object = request.objectValue, object.members.allSatisfy({ ["jti", "client_id", "ttl"].contains($0.key) })
        else { return revokeError("expected an object with 'jti' or 'client_id', and optionally 'ttl'") }
        let jti = request["jti"]?.stringValue
        let clientID = request["client_id"]?.stringValue
        guard (jti == nil) != (clientID == nil), (request["jti"] == nil) == (jti == nil),
              (request["client_id"] == nil) == (clientID == nil), !(jti ?? clientID ?? "").isEmpty
        else { return revokeError("give exactly one of 'jti' or 'client_id', as a non-empty string") }
        let ttl: Double? = request["ttl"] == nil ? 86_400 : request["ttl"]?.doubleValue
        guard let ttl, ttl >= 1, ttl <= 30 * 86_400 else { return revokeError("'ttl' must be 1 to 2592000 seconds") }
        let target: RevocationTarget = jti.map { .token(jti: $0) } ?? .client(id: clientID!)
        let until = services.clock.now() + ttl
        let outcome = services.sharedState.revocations.revoke(target, until: until)
        var answer: [(key: String, value: JSONValue)] = []
        if let jti { answer.append((key: "jti", value: .string(jti))) }
        if let clientID { answer.append((key: "client_id", value: .string(clientID))) }
        answer.append((key: "until", value: .number(String(Int64(until.rounded(.up))))))
        let status: Int
        switch outcome {
        case .applied:
            answer.insert((key: "status", value: .string("revoked")), at: 0)
            status = 200
        case .localOnly(let reason):
            answer.insert((key: "status", value: .string("revoked on this instance; propagation pending")), at: 0)
            answer.append((key: "shared_state_error", value: .string(reason)))
            status = 202
        }
        services.logger.notice("revoked", metadata: [
            "revocation.target": jti == nil ? "client" : "token", "client.id": clientID ?? "",
            "revocation.ttl": String(Int(ttl)), "revocation.propagated": status == 200 ? "true" : "false",
        ])
        return Responses.json(.object(JSONObject(members: answer)), status: status, requestID: nil)
    }

    func revokeError(_ description: String) -> HTTPResponse {
        Responses.json(["error": "invalid_request", "error_description": .string(description)], status: 400, requestID: nil)
    }
}
