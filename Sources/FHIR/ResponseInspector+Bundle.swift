// Bundles and `$pdmp-history` results: per-entry release decisions, the withheld notice, `total` removal,
// link and fullUrl rewriting (issue #5 items 4, 6, 7).
public import GatewayCore

extension ResponseInspector.Context {
    /// Filters a searchset, history or batch/transaction-response Bundle.
    mutating func inspectBundle(_ bundle: JSONObject, interaction: Interaction) -> JSONValue? {
        guard Self.hasOnlyBundleMembers(JSONValue.object(bundle)) else {
            denial = ResponseInspector.uninspectable
            return nil
        }
        let type = bundle["type"]?.stringValue ?? ""
        var entries = filterEntries(bundle["entry"]?.arrayValue ?? [], bundleType: type)
        // FHIR-10 (e), pinned: an instance history with a version from another compartment is denied whole.
        if interaction.kind == .historyInstance && withheld > 0 {
            denial = .accessDenied
            return nil
        }
        var result = bundle
        let isResponse = type == "batch-response" || type == "transaction-response"
        if withheld > 0 && !isResponse {
            // (A batch or transaction response keeps one entry per request: withheld ones became 403 entries.)
            // The client learns that something was withheld, never what (R4 search.html §3.1.1.4 "outcome").
            result = result.removing("total")
            entries.append(noticeEntry(bundleType: type))
        }
        if bundle["entry"] != nil || !entries.isEmpty { result = result.setting("entry", .array(entries)) }
        return .object(rewritingLinks(result))
    }

    func withheldNotice() -> JSONValue {
        ResponseInspector.withheldNotice(count: withheld)
    }

    /// The entry carrying the withheld notice (a searchset's with `search.mode` = `outcome`).
    func noticeEntry(bundleType: String) -> JSONValue {
        var notice: [(String, JSONValue)] = [("resource", withheldNotice())]
        if bundleType == "searchset" {
            notice.append(("search", .object(JSONObject.make([("mode", .string("outcome"))]))))
        }
        return .object(JSONObject.make(notice))
    }

    /// Decides every entry, then releases master data referenced by released resources (transitively).
    mutating func filterEntries(_ entries: [JSONValue], bundleType: String) -> [JSONValue] {
        let kept = keptEntries(entries, bundleType: bundleType)
        var output: [JSONValue] = []
        output.reserveCapacity(entries.count)
        for (index, entry) in entries.enumerated() {
            if kept[index] {
                output.append(rewritingEntry(entry))
            } else {
                withheld += 1
                // A batch response keeps its shape: the entry becomes a 403 like a denied request.
                if Self.isResponse(bundleType) { output.append(ResponseInspector.deniedResponseEntry) }
            }
        }
        return output
    }

    static func isResponse(_ bundleType: String) -> Bool {
        bundleType == "batch-response" || bundleType == "transaction-response"
    }

    /// The release decision of each entry (the rules of `filterEntries`, for the tree and the byte index).
    mutating func keptEntries<Value: JSONReading>(_ entries: [Value], bundleType: String) -> [Bool] {
        var decisions: [Class?] = entries.map { entry in
            guard entryIsInspectable(entry) else { return .withhold }
            return entry["resource"].map { classify($0) }
        }
        var referenced: Set<String> = []
        // Collecting references walks every released resource: only worth it when master data waits.
        var changed = decisions.contains { $0 == .master }
        if changed {
            for (index, entry) in entries.enumerated() where decisions[index] == .release {
                collectReferences(entry["resource"], into: &referenced)
            }
        }
        while changed {
            changed = false
            for (index, entry) in entries.enumerated() where decisions[index] == .master {
                guard isReferenced(entry, by: referenced) else { continue }
                decisions[index] = .release
                collectReferences(entry["resource"], into: &referenced)
                changed = true
            }
        }
        let isResponse = Self.isResponse(bundleType)
        return entries.indices.map { index in
            let kept = allowed == nil || decisions[index] == .release || (decisions[index] == nil && isResponse)
            return kept && !(entries[index]["resource"].map(violatesConstraints) ?? false)
        }
    }

    /// The members of an R4 `Bundle.entry` (bundle.html#resource; `_fullUrl` carries the primitive's
    /// extensions).
    static let entryMembers: Set<String> = [
        "id", "extension", "modifierExtension", "link", "fullUrl", "_fullUrl", "resource", "search", "request",
        "response",
    ]

    /// The members of a `Parameters.parameter` besides `value[x]` (R4 parameters.html).
    static let parameterMembers: Set<String> = [
        "name", "_name", "resource", "part", "id", "extension", "modifierExtension",
    ]

    /// The members of an R4 Bundle (bundle.html#resource), with the `_` forms of its primitives.
    static let bundleMembers: Set<String> = [
        "resourceType", "id", "_id", "meta", "implicitRules", "_implicitRules", "language", "_language",
        "identifier", "type", "_type", "timestamp", "_timestamp", "total", "_total", "link", "entry", "signature",
    ]

    /// The members of an entry's `link` (each), `search`, `request` and `response` (R4 bundle.html), besides
    /// `id`, `extension`, `modifierExtension` and the `_` forms of the primitives.
    static let entryParts: [(part: String, names: Set<String>)] = {
        let parts: [(String, [String])] = [
            ("link", ["relation", "url"]), ("search", ["mode", "score"]),
            ("request", ["method", "url", "ifNoneMatch", "ifModifiedSince", "ifMatch", "ifNoneExist"]),
            ("response", ["status", "location", "etag", "lastModified", "outcome"]),
        ]
        return parts.map { part in
            (part.0, Set(part.1 + part.1.map { "_" + $0 } + ["id", "extension", "modifierExtension"]))
        }
    }()

    /// True when a Bundle has only the members an R4 Bundle has: anything else (a `contained`, an `entries`)
    /// would be relayed unread, so such a Bundle is not relayed at all.
    static func hasOnlyBundleMembers<Value: JSONReading>(_ bundle: Value) -> Bool {
        hasOnly(bundle, bundleMembers)
    }

    static func hasOnly<Value: JSONReading>(_ object: Value, _ names: Set<String>) -> Bool {
        guard object.isObject else { return false }
        var only = true
        object.forEachNamedMember { name, _ in only = only && names.contains(name) }
        return only
    }

    /// True when an entry can be decided from its `resource`: an object with only the members of an R4
    /// entry and of its parts, whose `response.outcome`, if any, is an OperationOutcome that passes
    /// `classify`. Anything else could carry a resource the decision never looked at: the entry is withheld.
    mutating func entryIsInspectable<Value: JSONReading>(_ entry: Value) -> Bool {
        guard entry.isObject else { return false }
        var only = true
        var outcome: Value?
        // One pass over the entry's members (this runs for every entry of every Bundle).
        entry.forEachNamedMember { name, value in
            guard only, Self.entryMembers.contains(name) else { return only = false }
            guard let names = Self.entryParts.first(where: { $0.part == name })?.names else { return }
            let items = name == "link" ? value.elements : [value]
            only = items?.allSatisfy { Self.hasOnly($0, names) } ?? false
            if name == "response" { outcome = value["outcome"] }
        }
        guard only else { return false }
        guard let outcome else { return true }
        return outcome["resourceType"]?.stringValue == "OperationOutcome" && classify(outcome) == .release
    }

    private func isReferenced<Value: JSONReading>(_ entry: Value, by referenced: Set<String>) -> Bool {
        if let type = entry["resource"]?["resourceType"]?.stringValue, let id = entry["resource"]?["id"]?.stringValue,
            referenced.contains(type + "/" + id)
        {
            return true
        }
        return entry["fullUrl"]?.stringValue.map(referenced.contains) ?? false
    }

    /// Every `reference` string in a resource, as written and as `Type/id` when it resolves.
    func collectReferences<Value: JSONReading>(_ value: Value?, into references: inout Set<String>) {
        value?.forEachReferenceString { literal in
            references.insert(literal)
            if case .resource(let type, let id) = FHIRReference.parse(literal, bases: bases) {
                references.insert(type + "/" + id)
            }
        }
    }

    // MARK: URLs

    func rewritingEntry(_ entry: JSONValue) -> JSONValue {
        guard case .object(var object) = entry else { return entry }
        if let fullUrl = object["fullUrl"]?.stringValue {
            object =
                rewriter.rewrite(fullUrl).map { object.setting("fullUrl", .string($0)) } ?? object.removing("fullUrl")
        }
        if case .object(let response) = object["response"], let location = response["location"]?.stringValue {
            object = object.setting("response", .object(rewritingLocation(location, of: response)))
        }
        return .object(object)
    }

    /// An entry's `response` with its `location` under the public base, or without it.
    func rewritingLocation(_ location: String, of response: JSONObject) -> JSONObject {
        rewriter.rewrite(location).map { response.setting("location", .string($0)) } ?? response.removing("location")
    }

    /// `Bundle.link[].url` under the public base; links elsewhere are dropped. Paging links are not trusted:
    /// the next page is a new request, classified and checked like any other.
    func rewritingLinks(_ bundle: JSONObject) -> JSONObject {
        guard case .array(let links) = bundle["link"] else { return bundle }
        return bundle.setting("link", .array(rewrittenLinks(links)))
    }

    func rewrittenLinks(_ links: [JSONValue]) -> [JSONValue] {
        links.compactMap { link -> JSONValue? in
            guard case .object(let object) = link, let url = object["url"]?.stringValue,
                let rewritten = rewriter.rewrite(url)
            else { return nil }
            let restored = restoringCompartment(rewritten)
            if let linkCheck, !linkCheck(restored) { return nil }
            // Only what a link is (`relation`, `url`): other members would be relayed unread.
            var members: [(String, JSONValue)] = []
            if let relation = object["relation"], case .string = relation { members.append(("relation", relation)) }
            members.append(("url", .string(restored)))
            return .object(JSONObject.make(members))
        }
    }

    /// The paging links of a compartment search `Patient/{id}/{type}` under the compartment again. sekmet-fhir
    /// (and other servers) link `next`, `self`, `first`, ... of such a search as the type-level search
    /// `{base}/{type}?_count=..&_offset=..`, which names no patient: a population query the gateway refuses.
    /// Putting the compartment path back makes the link an ordinary compartment search, which the gateway
    /// classifies and checks against the token's patient like any other request, so nothing in the link is
    /// trusted: a client that edits the patient or drops the path is refused as it would be without paging.
    func restoringCompartment(_ url: String) -> String {
        guard let (patient, type) = pagingCompartment else { return url }
        for prefix in [rewriter.publicBase + "/", ""] {
            let search = prefix + type
            if url == search || url.hasPrefix(search + "?") {
                return prefix + "Patient/" + patient + "/" + type + url.dropFirst(search.count)
            }
        }
        return url
    }
}

// MARK: - $pdmp-history and $process-message results

extension ResponseInspector.Context {
    /// A `pdmp-parameters-response`: the history Bundle is checked so that every clinical resource references
    /// one of the Patients in it (SPEC-DIGEST §4.3), and, for a restricted token, an allowed one.
    mutating func inspectPDMPParameters(_ parameters: JSONObject) -> JSONValue? {
        var items = parameters["parameter"]?.arrayValue ?? []
        for index in items.indices where items[index]["name"]?.stringValue == "pdmp-history-data" {
            guard case .object(let item) = items[index], case .object(let bundle) = item["resource"],
                Self.hasOnlyBundleMembers(JSONValue.object(bundle))
            else {
                denial = ResponseInspector.uninspectable
                return nil
            }
            items[index] = .object(item.setting("resource", inspectPDMPBundle(bundle)))
        }
        // The response's other outputs carry no resource but the `outcome` OperationOutcome (SPEC-DIGEST
        // §4.2 output parameters): any other resource or `part` would be relayed unchecked, so it is withheld.
        items = items.filter { item in
            let name = item["name"]?.stringValue
            guard name != "pdmp-history-data" else { return true }
            // Parameters.parameter: name, value[x], resource, part, id and extensions; nothing else.
            var shaped = item.isObject
            item.forEachNamedMember { member, _ in
                shaped = shaped && (Self.parameterMembers.contains(member) || member.hasPrefix("value"))
            }
            guard shaped else {
                withheld += 1
                return false
            }
            guard item["resource"] != nil || item["part"] != nil else { return true }
            if name == "outcome", item["part"] == nil, let outcome = item["resource"],
                outcome["resourceType"]?.stringValue == "OperationOutcome", classify(outcome) == .release
            {
                return true
            }
            withheld += 1
            return false
        }
        if withheld > 0 { items = addingWithheldOutcome(to: items) }
        return .object(parameters.setting("parameter", .array(items)))
    }

    private mutating func inspectPDMPBundle(_ bundle: JSONObject) -> JSONValue {
        let entries = bundle["entry"]?.arrayValue ?? []
        var patients: Set<String> = []
        var aliases: [String: String] = [:]
        for entry in entries where entry["resource"]?["resourceType"]?.stringValue == "Patient" {
            guard let id = entry["resource"]?["id"]?.stringValue else { continue }
            patients.insert(id)
            if let fullUrl = entry["fullUrl"]?.stringValue { aliases[fullUrl] = id }
        }
        let outer = allowed
        allowed = outer.map { $0.intersection(patients) } ?? patients
        self.aliases = aliases
        let filtered = filterEntries(entries, bundleType: bundle["type"]?.stringValue ?? "")
        allowed = outer
        self.aliases = [:]
        return .object(rewritingLinks(bundle.setting("entry", .array(filtered))))
    }

    // Adds the withheld notice to the `outcome` parameter (0..1), creating it when absent.
    private func addingWithheldOutcome(to items: [JSONValue]) -> [JSONValue] {
        var items = items
        let notice = withheldNotice()
        if let index = items.firstIndex(where: { $0["name"]?.stringValue == "outcome" }),
            case .object(let item) = items[index], case .object(let outcome) = item["resource"],
            case .array(let issues) = outcome["issue"], let extra = notice["issue"]?.arrayValue
        {
            let merged = outcome.setting("issue", .array(issues + extra))
            items[index] = .object(item.setting("resource", .object(merged)))
            return items
        }
        items.append(.object(JSONObject.make([("name", .string("outcome")), ("resource", notice)])))
        return items
    }

    /// A `$process-message` response: a message Bundle whose Parameters entries are PDMP responses.
    mutating func inspectMessage(_ bundle: JSONObject) -> JSONValue? {
        guard Self.hasOnlyBundleMembers(JSONValue.object(bundle)) else {
            denial = ResponseInspector.uninspectable
            return nil
        }
        var entries = bundle["entry"]?.arrayValue ?? []
        for index in entries.indices {
            guard case .object(let entry) = entries[index], case .object(let resource) = entry["resource"] else {
                continue
            }
            // The entry's other members and the resource's `contained` would go out unchecked.
            guard entryIsInspectable(entries[index]), resource["contained"] == nil else {
                withheld += 1
                entries[index] = .null
                continue
            }
            switch resource["resourceType"]?.stringValue {
            case "Parameters":
                guard let checked = inspectPDMPParameters(resource) else { return nil }
                entries[index] = rewritingEntry(.object(entry.setting("resource", checked)))
            case "MessageHeader", "OperationOutcome":
                entries[index] = rewritingEntry(entries[index])
            default:
                // Anything else in a response message is outside the PDMP response profile.
                withheld += 1
                entries[index] = .null
            }
        }
        return .object(rewritingLinks(bundle.setting("entry", .array(entries.filter { $0 != .null }))))
    }
}

extension ResponseInspector {
    /// The OperationOutcome telling the client that `count` entries were withheld (no detail of which).
    public static func withheldNotice(count: Int) -> JSONValue {
        OperationOutcome.value(
            severity: .warning, code: .suppressed,
            diagnostics: "\(count) result(s) were withheld because they are outside the authorized patient context")
    }

    /// The batch/transaction-response entry that replaces a withheld one.
    public static let deniedResponseEntry: JSONValue = .object(
        JSONObject.make([
            (
                "response",
                .object(
                    JSONObject.make([
                        ("status", .string("403 Forbidden")),
                        (
                            "outcome",
                            OperationOutcome.value(
                                severity: .error, code: .forbidden,
                                diagnostics: FHIRRequestError.accessDenied.publicMessage)
                        ),
                    ]))
            )
        ]))
}
