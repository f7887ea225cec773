// Token introspection at the gateway (`POST /auth/introspect`, RFC 7662): every decision gets an AuditEvent
// (issue #7: "every decision"), in the shape of the token-issuance event (SPEC-DIGEST §5.3 e) with the
// IHE IUA transaction for introspection, ITI-102 "Introspect Token". The introspected token itself is never
// recorded: only its `jti` when it was active, so that an auditor can tie the answer to the issuance event.

import GatewayCore

/// An RFC 7662 introspection request and its answer.
public struct AuditIntrospection: Sendable, Hashable {
    /// The endpoint URL (the authorization server agent's network address).
    public var endpointURL: String?
    /// The answer's `active`, when the caller was allowed to ask.
    public var active: Bool?
    /// The `jti` of the introspected token, when it was active.
    public var introspectedTokenJTI: String?

    /// Creates an introspection description.
    public init(endpointURL: String? = nil, active: Bool? = nil, introspectedTokenJTI: String? = nil) {
        self.endpointURL = endpointURL
        self.active = active
        self.introspectedTokenJTI = introspectedTokenJTI
    }
}

extension AuditEventBuilder {
    /// Introspection requests: the caller (a registered client, by its access token) asks about a token.
    func introspectionEvent(_ input: AuditInput, _ introspection: AuditIntrospection) -> AuditEventDraft {
        var draft = AuditEventDraft(
            type: .coding(CodeSystem.dicom, "110114"), subtype: [.coding(CodeSystem.iheEventType, "ITI-102")],
            action: "E", recorded: AuditTime.instant(input.time), outcome: outcomeCode(input.outcome),
            outcomeDesc: outcomeDescription(input), source: source(type: "6"))
        draft.agents = [clientAgent(input, type: .concept(CodeSystem.dicom, "110150"))]
        draft.agents.append(
            serverAgent(
                type: .concept(CodeSystem.balpAgentType, "AuthzOauthService"), address: introspection.endpointURL))
        if let oauth = oauthAgent(input) { draft.agents.append(oauth) }
        draft.entities = [queryEntity(input, body: "token=[REDACTED]")]
        if let active = introspection.active {
            var what: [(String, JSONValue)] = [("display", .str("introspected token"))]
            if let jti = introspection.introspectedTokenJTI {
                what = [("identifier", .obj([("value", .str(jtiPrefix + jti))]))]
            }
            draft.entities.append(
                .obj([
                    ("what", .obj(what)), ("type", .coding(CodeSystem.entityType, "2")),
                    ("role", .coding(CodeSystem.objectRole, "13")),
                    ("detail", .array([detail("active", active ? "true" : "false")])),
                ]))
        }
        if let transaction = transactionEntity(input) { draft.entities.append(transaction) }
        return draft
    }
}
