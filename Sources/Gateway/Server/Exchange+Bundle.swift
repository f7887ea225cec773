// Batch and transaction Bundles through the pipeline (issue #5 item 5; attack cases BND-01, BND-03).
// The Bundle itself is decided by policy first (the sample policies refuse bundles outright); then every
// entry is decided like a request of its own: scopes, patient compartment, policy, obligations. A batch
// answers denied entries with their own error response and sends only the allowed ones upstream; a
// transaction is all-or-nothing. What goes upstream is a Bundle the gateway rebuilt from checked entries.

import Audit
import FHIR
import GatewayCore
import GatewayHTTP
import Policy
import SMART
import Synchronization

extension Exchange {
    func authorizeBundle(_ interaction: Interaction, principal: Principal) {
        let isBatch = interaction.kind == .batch
        // The envelope: policy may refuse bundles as such; a patient-context token must be allowed to
        // make a transaction as a whole (CompartmentCheck decides every entry of a transaction). A batch
        // envelope names no patient of its own: its entries are decided one by one below.
        var envelope = interaction
        if isBatch { envelope.patients = [] }
        // (The classifier read this body already; it cannot fail here.)
        guard case .object(let bundle)? = try? JSONValue.parse(request.body),
            let posted = bundle["entry"]?.arrayValue
        else { return deny(FHIRRequestError.invalid("The Bundle could not be read")) }
        if let patient = principal.patient, !isBatch,
            case .denied(let error) = CompartmentCheck.requestDecision(interaction, allowedPatients: [patient])
        {
            // The entry that refused the transaction gets its own record (issue #7).
            if let entry = interaction.entries.first(where: {
                !CompartmentCheck.requestDecision($0, allowedPatients: [patient]).isAllowed
            }), let index = entry.entryIndex, index < posted.count {
                auditEntry(index, entry, posted: posted[index], decision: nil, error: error)
            }
            return deny(error)
        }
        let decision = evaluatePolicy(envelope, principal: principal, isEntry: false)
        guard decision.allowed else { return deny(PolicyDenial(decision)) }

        var slots = [JSONValue?](repeating: nil, count: posted.count)
        for rejected in interaction.rejectedEntries where rejected.index < slots.count {
            slots[rejected.index] = Self.errorEntry(rejected.error)
            let unclassified = Interaction(kind: .operation, method: "POST", operation: "unclassified")
            auditEntry(
                rejected.index, unclassified, posted: posted[rejected.index], decision: nil, error: rejected.error)
        }
        var forwardedEntries: [JSONValue] = []
        var plan = ResponsePlan(inspect: principal.patient != nil, allowed: principal.patient.map { [$0] })
        for entry in interaction.entries {
            guard let index = entry.entryIndex, index < posted.count else { continue }
            entryDecision = nil
            switch authorizeEntry(entry, principal: principal) {
            case .failure(let error):
                auditEntry(index, entry, posted: posted[index], decision: entryDecision, error: error)
                // BND-01: one denied entry refuses a transaction whole, before anything reaches the upstream.
                // The entries allowed so far were never carried out: only the refused one has a record.
                guard isBatch else {
                    entryAudits.removeAll { $0.outcome == nil }
                    return deny(error)
                }
                slots[index] = Self.errorEntry(Self.responseError(error))
            case .success(let authorized):
                auditEntry(index, authorized.interaction, posted: posted[index], decision: entryDecision, error: nil)
                forwardedEntries.append(Self.rebuiltEntry(posted[index], as: authorized.interaction))
                plan.inspect = plan.inspect || authorized.plan.inspect
                if let allowed = authorized.plan.allowed { plan.allowed = (plan.allowed ?? []).union(allowed) }
                plan.constraints += authorized.plan.constraints
            }
        }
        plan.batchSlots = isBatch ? slots : nil
        if isBatch && forwardedEntries.isEmpty {
            // Nothing left to ask: the gateway answers the batch itself.
            let response = JSONValue.object(
                JSONObject([
                    ("resourceType", .string("Bundle")), ("type", .string("batch-response")),
                    ("entry", .array(slots.map { $0 ?? Self.errorEntry(FHIRRequestError.accessDenied) })),
                ]))
            let headers = HTTPHeaders([("Content-Type", Responses.fhirJSON), ("Cache-Control", "no-store")])
            return succeed(HTTPResponse(status: 200, headers: headers, body: response.serialized()))
        }
        var forwarded = interaction
        var rebuilt = bundle
        rebuilt["entry"] = .array(forwardedEntries)
        forwarded.resource = .object(rebuilt)
        forward(forwarded, plan: plan)
    }

    /// One entry: a write that would need a pre-read is refused inside a Bundle (the pre-read and the write
    /// could not be made atomic with the other entries).
    func authorizeEntry(_ entry: Interaction, principal: Principal) -> Result<Authorized, any Error> {
        switch authorize(entry, principal: principal, isEntry: true) {
        case .failure(let error):
            return .failure(error)
        case .success(let authorized):
            if authorized.preRead {
                return .failure(FHIRRequestError.refused("This write is not available inside a Bundle"))
            }
            // Fail closed: the response inspector checks granular scope constraints (SCP-05) against the
            // request's own type, which a Bundle does not have.
            // TODO(#5): check each entry's response against its own constraints instead of refusing.
            if !authorized.plan.constraints.isEmpty {
                return .failure(FHIRRequestError.refused("Granular scopes do not apply inside a Bundle"))
            }
            return .success(authorized)
        }
    }

    /// The posted entry with its `request.url` rebuilt from what was authorized (a narrowed search carries
    /// the added patient parameter; granular scope constraints are added too).
    static func rebuiltEntry(_ posted: JSONValue, as interaction: Interaction) -> JSONValue {
        guard case .object(var entry) = posted, case .object(var request) = entry["request"],
            isSearch(interaction.kind) || interaction.kind == .read || interaction.kind == .vread
        else { return posted }
        var segments: [String] = []
        switch interaction.kind {
        case .searchCompartment:
            segments = ["Patient", interaction.id ?? "", interaction.compartmentTargetType ?? ""]
        case .read, .vread:
            segments = [interaction.resourceType ?? "", interaction.id ?? ""]
            if let version = interaction.versionId { segments += ["_history", version] }
        default:
            segments = interaction.resourceType.map { [$0] } ?? []
        }
        let target = UpstreamRequestBuilder.upstreamTarget(
            basePath: "", segments: segments, query: encodedQuery(interaction.parameters))
        request["url"] = .string(String(target.dropFirst()))
        entry["request"] = .object(request)
        return .object(entry)
    }

    /// A batch-response entry for a refused entry: its status and an OperationOutcome.
    static func errorEntry(_ error: any HTTPResponseError) -> JSONValue {
        let outcome = OperationOutcome.value(severity: .error, code: error.issueType, diagnostics: error.publicMessage)
        let reason = reasonPhrase(error.status)
        return .object(
            JSONObject([
                (
                    "response",
                    .object(
                        JSONObject([
                            ("status", .string("\(error.status) \(reason)")), ("outcome", outcome),
                        ]))
                )
            ]))
    }

    /// Puts the upstream's answers (for the forwarded entries, in order) and the gateway's refusals back in
    /// the posted order. Nil when the upstream did not answer every forwarded entry exactly once.
    static func mergeBatchResponse(_ body: [UInt8], slots: [JSONValue?]) -> [UInt8]? {
        guard case .object(let bundle)? = try? JSONValue.parse(body), bundle["type"]?.stringValue == "batch-response"
        else { return nil }
        var answers = (bundle["entry"]?.arrayValue ?? [])[...]
        // The inspector appends no notice to a batch-response (withheld entries become 403 entries in place).
        var merged: [JSONValue] = []
        for slot in slots {
            if let slot {
                merged.append(slot)
            } else {
                guard let answer = answers.popFirst() else { return nil }
                merged.append(answer)
            }
        }
        guard answers.isEmpty else { return nil }
        var result = bundle
        result["entry"] = .array(merged)
        return JSONValue.object(result).serialized()
    }
}

// MARK: - One AuditEvent per entry (issue #7; BALP: one AuditEvent per interaction)

/// A Bundle entry's decision, recorded as an AuditEvent of its own after the Bundle's record.
struct EntryAudit {
    /// The entry's position in the posted Bundle.
    var index: Int
    var interaction: Interaction
    /// The entry's `request.method` and `request.url` under the gateway's base.
    var request: AuditHTTPRequest
    var decision: PolicyDecision?
    /// Nil while the entry waits for the upstream's answer (then the Bundle's outcome, if none comes).
    var outcome: AuditInput.Outcome?
    var description: String?
}

extension Exchange {
    /// Notes an entry's decision: refused with `error`, or forwarded (outcome pending) when nil.
    func auditEntry(
        _ index: Int, _ interaction: Interaction, posted: JSONValue, decision: PolicyDecision?, error: (any Error)?
    ) {
        let url = posted["request"]?["url"]?.stringValue ?? ""
        let parts = url.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let base = request.path.hasSuffix("/") ? String(request.path.dropLast()) : String(request.path)
        let entryRequest = AuditHTTPRequest(
            method: posted["request"]?["method"]?.stringValue ?? "", path: base + "/" + (parts.first ?? ""),
            query: parts.count > 1 ? String(parts[1]) : nil, host: request.headers["host"])
        var audit = EntryAudit(index: index, interaction: interaction, request: entryRequest, decision: decision)
        if let error {
            let responseError = Self.responseError(error)
            let detail = String(describing: error)
            audit.outcome = .denied(status: responseError.status)
            audit.description =
                detail == responseError.publicMessage ? detail : responseError.publicMessage + " [" + detail + "]"
        }
        entryAudits.append(audit)
    }

    /// Gives the forwarded entries the outcome of their answer in the upstream's (inspected) response Bundle:
    /// its entries answer the forwarded ones in order (R4 http.html §3.1.0.11.2). An entry the inspector
    /// withheld is a denial; an upstream error status is a failure.
    func settleEntryAudits(answers body: [UInt8], upstreamStatus: Int) {
        let pending = entryAudits.indices.filter { entryAudits[$0].outcome == nil }.sorted {
            entryAudits[$0].index < entryAudits[$1].index
        }
        guard !pending.isEmpty else { return }
        let answers = upstreamStatus < 300 ? (try? JSONValue.parse(body))?["entry"]?.arrayValue ?? [] : []
        for (position, audit) in pending.enumerated() {
            guard position < answers.count else {
                entryAudits[audit].outcome = .failure(status: upstreamStatus < 300 ? 502 : upstreamStatus)
                continue
            }
            let answer = answers[position]
            let status = Int(answer["response"]?["status"]?.stringValue?.prefix { $0.isNumber } ?? "") ?? 502
            if answer == ResponseInspector.deniedResponseEntry {
                entryAudits[audit].outcome = .denied(status: status)
                entryAudits[audit].description = FHIRRequestError.accessDenied.publicMessage
            } else {
                entryAudits[audit].outcome = status < 400 ? .success : .failure(status: status)
            }
        }
    }

    /// The entries' AuditEvents, in posted order; an entry still pending takes the Bundle's outcome.
    func entryAuditEvents(bundleOutcome: AuditInput.Outcome) -> [[UInt8]] {
        entryAudits.sorted { $0.index < $1.index }.map { entry in
            var input = auditInput(entry.outcome ?? bundleOutcome, description: entry.description)
            input.subject = .fhir(entry.interaction)
            input.request = entry.request
            input.decision = entry.decision.map(Self.auditDecision)
            input.responsePatients = []
            return services.auditBuilder.canonicalEvent(input)
        }
    }
}

/// Waits for the appends of one exchange's records and reports once, with the first failure if any.
final class AuditGate: Sendable {
    private let state: Mutex<(remaining: Int, failure: AuditError?)>
    private let done: @Sendable (AuditError?) -> Void

    init(count: Int, done: @escaping @Sendable (AuditError?) -> Void) {
        state = Mutex((count, nil))
        self.done = done
    }

    func complete(_ result: Result<AuditReceipt, AuditError>) {
        let (finished, failure) = state.withLock { state -> (Bool, AuditError?) in
            if case .failure(let error) = result, state.failure == nil { state.failure = error }
            state.remaining -= 1
            return (state.remaining == 0, state.failure)
        }
        if finished { done(failure) }
    }
}

// MARK: - Paging links (issue #5 item 4)

extension Exchange {
    /// True when a link of a patient-restricted response (already under the public base) is a request the
    /// token's patients could make: a GET the classifier accepts and the compartment check allows. Links
    /// that name another patient, or that the gateway cannot classify (a server's opaque paging cursor),
    /// are dropped from the response; following them would be refused anyway.
    static func linkAllowed(_ url: String, _ allowed: Set<String>, _ snapshot: GatewaySnapshot) -> Bool {
        let base = snapshot.config.publicFHIRBase
        let basePath = snapshot.config.fhir.basePath
        let target: String
        if url == base {
            target = basePath
        } else if url.hasPrefix(base), let next = url.dropFirst(base.count).first, next == "/" || next == "?" {
            target = basePath + url.dropFirst(base.count)
        } else if !url.contains("://"), !url.hasPrefix("/") {
            target = basePath + "/" + url  // relative to the FHIR base
        } else {
            return false
        }
        guard
            let interaction = try? snapshot.classifier.classify(
                method: "GET", target: target, contentType: nil, body: [], ifNoneExist: nil, headerNames: [])
        else { return false }
        return CompartmentCheck.requestDecision(interaction, allowedPatients: allowed).isAllowed
    }
}
