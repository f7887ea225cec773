// Bundle inspection on the byte index (issue #5, the 1 MB / 5 ms target): the same decisions as
// `inspectBundle` (`keptEntries` is shared and generic over the tree and the index), written by copying the
// kept entries' original bytes and splicing in only what the tree path changes: rewritten `fullUrl`s,
// `response.location`s and `link`s, the dropped `total`, the withheld notice and 403 entries. The result
// parses to exactly the tree path's result (FHIRTests/SplicedInspectionTests); only whitespace and the
// spelling of escapes in copied values may differ, and the index accepted them under the same strict rules.
import GatewayCore

extension ResponseInspector.Context {
    /// `inspectBundle(_:interaction:)` on the byte index; nil when the response is denied (see `denial`).
    mutating func inspectBundle(spliced bundle: JSONCursor, interaction: Interaction) -> [UInt8]? {
        guard Self.hasOnlyBundleMembers(bundle) else {
            denial = ResponseInspector.uninspectable
            return nil
        }
        let type = bundle["type"]?.stringValue ?? ""
        let entries = bundle["entry"]?.elements ?? []
        let kept = keptEntries(entries, bundleType: type)
        withheld += kept.reduce(0) { $1 ? $0 : $0 + 1 }
        // FHIR-10 (e), pinned: an instance history with a version from another compartment is denied whole.
        if interaction.kind == .historyInstance && withheld > 0 {
            denial = .accessDenied
            return nil
        }
        let addsNotice = withheld > 0 && !Self.isResponse(type)
        var writer = SpliceWriter(source: bundle.document.bytes, rewriter: rewriter)
        writer.out.append(UInt8(ascii: "{"))
        for member in bundle.members ?? [] {
            // The client learns that something was withheld, never what (R4 search.html §3.1.1.4 "outcome").
            if addsNotice && member.key.isString("total") { continue }
            writer.key(member.key)
            if member.key.isString("entry") {
                writeEntries(entries, kept: kept, bundleType: type, notice: addsNotice, into: &writer)
            } else if member.key.isString("link"), let links = member.value.elements {
                writer.value(.array(rewrittenLinks(links.map(\.value))))
            } else {
                writer.copy(member.value)
            }
        }
        writer.out.append(UInt8(ascii: "}"))
        return writer.out
    }

    private func writeEntries(
        _ entries: [JSONCursor], kept: [Bool], bundleType: String, notice: Bool, into writer: inout SpliceWriter
    ) {
        writer.out.append(UInt8(ascii: "["))
        var first = true
        func separate(_ writer: inout SpliceWriter) {
            if !first { writer.out.append(UInt8(ascii: ",")) }
            first = false
        }
        for (index, entry) in entries.enumerated() {
            if kept[index] {
                separate(&writer)
                writeEntry(entry, into: &writer)
            } else if Self.isResponse(bundleType) {
                // A batch response keeps its shape: the entry becomes a 403 like a denied request.
                separate(&writer)
                writer.value(ResponseInspector.deniedResponseEntry)
            }
        }
        if notice {
            separate(&writer)
            writer.value(noticeEntry(bundleType: bundleType))
        }
        writer.out.append(UInt8(ascii: "]"))
    }

    /// `rewritingEntry`: the entry's own bytes, with `fullUrl` and `response.location` rewritten or dropped.
    private func writeEntry(_ entry: JSONCursor, into writer: inout SpliceWriter) {
        guard entry.isObject else { return writer.copy(entry) }
        writer.out.append(UInt8(ascii: "{"))
        var first = true
        entry.forEachMember { key, value in
            var replacement: JSONValue?
            if key.isString("fullUrl"), writer.rebases(value) {
                if !first { writer.out.append(UInt8(ascii: ",")) }
                first = false
                writer.out.append(contentsOf: writer.source[key.byteRange])
                writer.out.append(UInt8(ascii: ":"))
                return writer.writeRebased(value)
            }
            if key.isString("fullUrl"), let url = value.stringValue {
                guard let rewritten = rewriter.rewrite(url) else { return }
                replacement = .string(rewritten)
            } else if key.isString("response"), case .object(let response) = value.value,
                let location = response["location"]?.stringValue
            {
                replacement = .object(rewritingLocation(location, of: response))
            }
            if !first { writer.out.append(UInt8(ascii: ",")) }
            first = false
            writer.out.append(contentsOf: writer.source[key.byteRange])
            writer.out.append(UInt8(ascii: ":"))
            if let replacement { replacement.serialize(into: &writer.out) } else { writer.copy(value) }
        }
        writer.out.append(UInt8(ascii: "}"))
    }
}

/// The output of a spliced Bundle: members of the top-level object, copied or written.
private struct SpliceWriter {
    let source: [UInt8]
    var out: [UInt8] = []
    var members = 0

    /// The upstream base's bytes, when a plain string under it can be rebased byte-wise (see `rebases`).
    let upstreamBase: [UInt8]?
    /// The public base as the inside of a JSON string.
    let publicBase: [UInt8]

    init(source: [UInt8], rewriter: URLRewriter) {
        self.source = source
        out.reserveCapacity(source.count + 1024)
        let upstream = Array(rewriter.upstreamBase.utf8)
        upstreamBase = upstream.allSatisfy { $0 >= 0x20 && $0 < 0x7F } ? upstream : nil
        publicBase = Array(JSONValue.string(rewriter.publicBase).serialized().dropFirst().dropLast())
    }

    /// True when `value` is a plain (ASCII, unescaped) string that `URLRewriter.rewrite` would move from the
    /// upstream base to the public base: it is the base, or the base followed by `/` or `?`. For ASCII
    /// without control characters, String prefix and equality are byte prefix and equality.
    func rebases(_ value: JSONCursor) -> Bool {
        guard let upstreamBase, let range = value.plainStringBytes, range.count >= upstreamBase.count,
            source[range.lowerBound..<(range.lowerBound + upstreamBase.count)].elementsEqual(upstreamBase)
        else { return false }
        let next = range.lowerBound + upstreamBase.count
        return next == range.upperBound || source[next] == UInt8(ascii: "/") || source[next] == UInt8(ascii: "?")
    }

    /// Writes a string `rebases` accepted, under the public base.
    mutating func writeRebased(_ value: JSONCursor) {
        guard let range = value.plainStringBytes, let upstreamBase else { return }
        out.append(UInt8(ascii: "\""))
        out.append(contentsOf: publicBase)
        out.append(contentsOf: source[(range.lowerBound + upstreamBase.count)..<range.upperBound])
        out.append(UInt8(ascii: "\""))
    }

    /// Starts a top-level member with its name as written.
    mutating func key(_ key: JSONCursor) {
        if members > 0 { out.append(UInt8(ascii: ",")) }
        members += 1
        out.append(contentsOf: source[key.byteRange])
        out.append(UInt8(ascii: ":"))
    }

    mutating func copy(_ value: JSONCursor) {
        out.append(contentsOf: source[value.byteRange])
    }

    mutating func value(_ value: JSONValue) {
        value.serialize(into: &out)
    }
}
