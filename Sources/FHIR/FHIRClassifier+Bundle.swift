// Batch and transaction Bundles (`POST [base]`, issue #5 item 5; BND-01, BND-03). Each entry is classified
// like a request of its own. In a transaction any bad entry refuses the whole Bundle; in a batch it is
// reported per entry and the others proceed.
import GatewayCore

extension FHIRClassifier {
    func classifyBundle(_ request: RawRequest) throws(FHIRRequestError) -> Interaction {
        guard request.query.isEmpty else { throw .invalid("Batch and transaction take no query parameters") }
        let bundle = try resourceBody(request, type: "Bundle")
        let kind: InteractionKind
        switch bundle["type"]?.stringValue {
        case "batch": kind = .batch
        case "transaction": kind = .transaction
        default: throw .invalid("Only batch and transaction Bundles can be posted to the base")
        }
        var interaction = Interaction(kind: kind, method: request.method)
        let entries = bundle["entry"]?.arrayValue ?? []
        for (index, entry) in entries.enumerated() {
            do {
                var child = try classifyEntry(entry)
                child.entryIndex = index
                interaction.patients.formUnion(child.patients)
                interaction.returnedTypes.formUnion(child.returnedTypes)
                interaction.entries.append(child)
            } catch {
                guard kind == .batch else { throw error }
                interaction.rejectedEntries.append(RejectedEntry(index: index, error: error))
            }
        }
        return interaction
    }

    private func classifyEntry(_ entry: JSONValue) throws(FHIRRequestError) -> Interaction {
        guard let requestObject = entry["request"], let method = requestObject["method"]?.stringValue,
            let url = requestObject["url"]?.stringValue
        else { throw .invalid("Every entry needs request.method and request.url") }
        let (path, query) = try entryTarget(url)
        var raw = RawRequest(
            method: try Self.checkMethod(method), segments: try CanonicalTarget.segments(of: path),
            query: query ?? "", contentType: nil, body: [], ifNoneExist: requestObject["ifNoneExist"]?.stringValue)
        if let resource = entry["resource"] {
            // BND-03: no Bundle inside a Bundle.
            guard resource["resourceType"]?.stringValue != "Bundle" else { throw .invalid("Bundles cannot be nested") }
            raw.parsedBody = resource
            raw.contentType = "application/fhir+json"
            raw.body = [0x7B]  // a placeholder marking "has a body"; the parsed resource is what is checked
        }
        if raw.method == "PATCH" { throw .refused("PATCH entries are not supported in a Bundle") }
        return try classify(raw, allowBundle: false)
    }

    /// An entry URL as a path under the base: relative (`Patient/x`), or absolute under this gateway's own
    /// public base or base path. Foreign hosts, scheme-relative URLs and anything non-canonical are 400.
    private func entryTarget(_ url: String) throws(FHIRRequestError) -> (Substring, Substring?) {
        var relative = Substring(url)
        if url.contains("://") {
            guard let base = localBases.first(where: { url.hasPrefix($0 + "/") }) else {
                throw .invalid("Entry URLs must be relative")
            }
            relative = url.dropFirst(base.count + 1)
        } else if url.hasPrefix("/") {
            let basePath = "/" + baseSegments.joined(separator: "/") + "/"
            guard url.hasPrefix(basePath), !url.hasPrefix("//") else { throw .invalid("Entry URLs must be relative") }
            relative = url.dropFirst(basePath.count)
        }
        let (path, query) = CanonicalTarget.separateQuery(String(relative))
        guard !path.isEmpty else { throw .invalid("Entry URLs must name a resource type") }
        return ("/" + path, query)
    }
}
