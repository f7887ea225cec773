// Batch and transaction Bundles through the pipeline (issue #5 item 5; attack cases BND-01, BND-03).
// The Bundle itself is decided by policy first (the sample policies refuse bundles outright); then every
// entry is decided like a request of its own: scopes, patient compartment, policy, obligations. A batch
// answers denied entries with their own error response and sends only the allowed ones upstream; a
// transaction is all-or-nothing. What goes upstream is a Bundle the gateway rebuilt from checked entries.

import FHIR
import GatewayCore
import GatewayHTTP
import Policy
import SMART

extension Exchange {
    func authorizeBundle(_ interaction: Interaction, principal: Principal) {
        let isBatch = interaction.kind == .batch
        // The envelope: policy may refuse bundles as such; a patient-context token must be allowed to
        // make a transaction as a whole (CompartmentCheck decides every entry of a transaction). A batch
        // envelope names no patient of its own: its entries are decided one by one below.
        var envelope = interaction
        if isBatch { envelope.patients = [] }
        if let patient = principal.patient, !isBatch,
            case .denied(let error) = CompartmentCheck.requestDecision(interaction, allowedPatients: [patient])
        {
            return deny(error)
        }
        let decision = evaluatePolicy(envelope, principal: principal, isEntry: false)
        guard decision.allowed else { return deny(PolicyDenial(decision)) }
        guard case .object(let bundle)? = try? JSONValue.parse(request.body),
            let posted = bundle["entry"]?.arrayValue
        else { return deny(FHIRRequestError.invalid("The Bundle could not be read")) }

        var slots = [JSONValue?](repeating: nil, count: posted.count)
        for rejected in interaction.rejectedEntries where rejected.index < slots.count {
            slots[rejected.index] = Self.errorEntry(rejected.error)
        }
        var forwardedEntries: [JSONValue] = []
        var plan = ResponsePlan(inspect: principal.patient != nil, allowed: principal.patient.map { [$0] })
        for entry in interaction.entries {
            guard let index = entry.entryIndex, index < posted.count else { continue }
            switch authorizeEntry(entry, principal: principal) {
            case .failure(let error):
                // BND-01: one denied entry refuses a transaction whole, before anything reaches the upstream.
                guard isBatch else { return deny(error) }
                slots[index] = Self.errorEntry(Self.responseError(error))
            case .success(let authorized):
                forwardedEntries.append(Self.rebuiltEntry(posted[index], as: authorized.interaction))
                plan.inspect = plan.inspect || authorized.plan.inspect
                if let allowed = authorized.plan.allowed { plan.allowed = (plan.allowed ?? []).union(allowed) }
                plan.constraints += authorized.plan.constraints
            }
        }
        plan.batchSlots = isBatch ? slots : nil
        if isBatch && forwardedEntries.isEmpty {
            // Nothing left to ask: the gateway answers the batch itself.
            let response = JSONValue.object(JSONObject([
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
        return .object(JSONObject([
            ("response", .object(JSONObject([
                ("status", .string("\(error.status) \(reason)")), ("outcome", outcome),
            ]))),
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
