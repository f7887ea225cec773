// A validated index of a JSON document: where every value starts and ends, without building a tree.
// Response inspection (issue #5) reads a few members of each Bundle entry and then copies the kept entries'
// original bytes, so decoding every string and allocating every object of a 1 MB body is wasted work.
//
// The index accepts exactly the documents `JSONValue.parse` accepts (the same `StrictJSONParser` rules:
// duplicate member names compared as decoded Strings, UTF-8, surrogates, depth, trailing data), so the
// gateway never relays bytes it would have rejected when parsing them into a tree.

/// A strictly validated JSON document with the byte range of every value.
public final class JSONIndex: Sendable {
    /// The kinds of JSON values.
    public enum Kind: UInt8, Sendable {
        case null, bool, number, string, array, object
    }

    struct Node: Sendable {
        /// First byte of the value (the opening quote of a string, the bracket of a container).
        var start: UInt32
        /// One past the last byte of the value.
        var end: UInt32
        /// The node after this value's subtree (containers' children follow their own node; an object's
        /// children alternate key string, value).
        var next: UInt32
        var kind: Kind
        /// Strings: no escape and ASCII only, so the bytes between the quotes are the value.
        var plain: Bool
        /// Strings: this is a member name (the next node is its value).
        var isName = false
    }

    /// The document's bytes.
    public let bytes: [UInt8]
    let nodes: [Node]

    /// Indexes exactly one JSON value (surrounding whitespace allowed); throws where `JSONValue.parse` would.
    /// Documents of 2 GiB or more are refused (`unexpectedEnd` at offset 0): offsets are 32-bit.
    public init(parsing bytes: [UInt8], maxDepth: Int = 64) throws(JSONError) {
        guard bytes.count < Int(UInt32.max / 2) else { throw JSONError(reason: .unexpectedEnd, offset: 0) }
        self.bytes = bytes
        self.nodes = try bytes.withUnsafeBufferPointer { buffer throws(JSONError) -> [Node] in
            var builder = IndexBuilder(StrictJSONParser(buffer, maxDepth: maxDepth))
            // Every value takes at least two bytes (`1,`): reserving once avoids copying a growing array, and
            // pages never used are never touched.
            builder.nodes.reserveCapacity(bytes.count / 2 + 2)
            try builder.document()
            return builder.nodes
        }
    }

    /// The top-level value.
    public var root: JSONCursor { JSONCursor(document: self, node: 0) }

    func string(at node: Int) -> String {
        let item = nodes[node]
        let start = Int(item.start)
        if item.plain {
            return String(decoding: bytes[(start + 1)..<(Int(item.end) - 1)], as: UTF8.self)
        }
        return bytes.withUnsafeBufferPointer { buffer in
            var parser = StrictJSONParser(buffer, maxDepth: Int.max)
            parser.index = start
            // Validated when indexed: cannot fail.
            return (try? parser.parseString()) ?? ""
        }
    }

    func value(at node: Int) -> JSONValue {
        bytes.withUnsafeBufferPointer { buffer in
            var parser = StrictJSONParser(buffer, maxDepth: Int.max)
            parser.index = Int(nodes[node].start)
            return (try? parser.parseValue()) ?? .null
        }
    }

    /// True when the string node's decoded value equals `key` (Swift String equality, as `JSONObject`).
    /// `keyIsASCII` must say whether `key` is ASCII.
    func string(at node: Int, equals key: String, keyIsASCII: Bool) -> Bool {
        let item = nodes[node]
        // A plain string is ASCII; it equals a non-ASCII String only through canonical equivalence (e.g.
        // U+212A KELVIN SIGN and "K"), which decoding decides.
        guard item.plain, keyIsASCII else { return string(at: node) == key }
        let start = Int(item.start) + 1
        let count = Int(item.end) - 1 - start
        guard count == key.utf8.count else { return false }
        let answer = key.utf8.withContiguousStorageIfAvailable { wanted in
            bytes.withUnsafeBufferPointer { Self.equal($0, at: start, wanted) }
        }
        return answer ?? (string(at: node) == key)
    }

    static func isASCII(_ text: String) -> Bool {
        // On every member lookup: a loop over the contiguous bytes, not the generic UTF8View iteration.
        let answer = text.utf8.withContiguousStorageIfAvailable { bytes in
            var merged: UInt8 = 0
            for byte in bytes { merged |= byte }
            return merged < 0x80
        }
        return answer ?? text.utf8.allSatisfy { $0 < 0x80 }
    }

    static func equal(_ source: UnsafeBufferPointer<UInt8>, at start: Int, _ other: UnsafeBufferPointer<UInt8>) -> Bool {
        guard start + other.count <= source.count else { return false }
        for offset in 0..<other.count where source[start + offset] != other[offset] { return false }
        return true
    }
}

/// One value of a `JSONIndex`: its kind, its source bytes and its members or elements.
public struct JSONCursor: Sendable {
    /// The document this value is part of.
    public let document: JSONIndex
    let node: Int

    public var kind: JSONIndex.Kind { document.nodes[node].kind }
    public var isObject: Bool { kind == .object }
    public var isArray: Bool { kind == .array }

    /// The value's bytes in `document.bytes` (a string's range includes its quotes).
    public var byteRange: Range<Int> {
        let item = document.nodes[node]
        return Int(item.start)..<Int(item.end)
    }

    /// The decoded string; nil for other kinds.
    public var stringValue: String? { kind == .string ? document.string(at: node) : nil }

    /// True when this is a string whose decoded value equals `text`.
    public func isString(_ text: String) -> Bool {
        kind == .string && document.string(at: node, equals: text, keyIsASCII: JSONIndex.isASCII(text))
    }

    /// The value as a `JSONValue` tree (what `JSONValue.parse` makes of these bytes).
    public var value: JSONValue { document.value(at: node) }

    /// Member lookup on objects; nil for other kinds.
    public subscript(key: String) -> JSONCursor? {
        document.nodes.withUnsafeBufferPointer { nodes in
            guard nodes[node].kind == .object else { return nil }
            let isASCII = JSONIndex.isASCII(key)
            var child = node + 1
            let end = Int(nodes[node].next)
            while child < end {
                if document.string(at: child, equals: key, keyIsASCII: isASCII) {
                    return JSONCursor(document: document, node: child + 1)
                }
                child = Int(nodes[child + 1].next)
            }
            return nil
        }
    }

    /// The elements of an array; nil for other kinds.
    public var elements: [JSONCursor]? {
        guard kind == .array else { return nil }
        var result: [JSONCursor] = []
        var child = node + 1
        let end = Int(document.nodes[node].next)
        while child < end {
            result.append(JSONCursor(document: document, node: child))
            child = Int(document.nodes[child].next)
        }
        return result
    }

    /// Calls `body` with each member of an object in document order (name, value); nothing for other kinds.
    public func forEachMember(_ body: (_ key: JSONCursor, _ value: JSONCursor) -> Void) {
        guard kind == .object else { return }
        var child = node + 1
        let end = Int(document.nodes[node].next)
        while child < end {
            body(JSONCursor(document: document, node: child), JSONCursor(document: document, node: child + 1))
            child = Int(document.nodes[child + 1].next)
        }
    }

    /// Calls `body` with the value of every member named `name` whose value is a string, anywhere in this
    /// value (itself included when it is an object): a single pass over the subtree's nodes, for lookups such
    /// as "every `reference`" that would otherwise walk every member.
    public func forEachString(named name: String, _ body: (JSONCursor) -> Void) {
        let isASCII = JSONIndex.isASCII(name)
        let end = Int(document.nodes[node].next)
        var child = node + 1
        while child + 1 < end {
            let item = document.nodes[child]
            if item.isName, document.nodes[child + 1].kind == .string,
                document.string(at: child, equals: name, keyIsASCII: isASCII)
            {
                body(JSONCursor(document: document, node: child + 1))
            }
            child += 1
        }
    }

    /// For a string without escapes or non-ASCII bytes (whose source bytes are its value): the bytes between
    /// the quotes; nil for other strings and other kinds.
    public var plainStringBytes: Range<Int>? {
        let item = document.nodes[node]
        guard item.kind == .string, item.plain else { return nil }
        return (Int(item.start) + 1)..<(Int(item.end) - 1)
    }

    /// An object's members in document order as (name, value); nil for other kinds. The name is a string
    /// cursor: `key.isString(...)` compares without decoding, `key.byteRange` is the name as written.
    public var members: [(key: JSONCursor, value: JSONCursor)]? {
        guard kind == .object else { return nil }
        var result: [(key: JSONCursor, value: JSONCursor)] = []
        var child = node + 1
        let end = Int(document.nodes[node].next)
        while child < end {
            result.append((JSONCursor(document: document, node: child), JSONCursor(document: document, node: child + 1)))
            child = Int(document.nodes[child + 1].next)
        }
        return result
    }
}

/// The names of one object so far, as a 64-bit filter over plain names: a plain name that misses it equals
/// no earlier name (equal plain names have equal bytes), so the exact comparison can be skipped. Once any
/// name is not plain (escapes, non-ASCII), every later name is compared exactly.
private struct NameFilter {
    var bits: UInt64 = 0
    var exact = false

    /// Records `name`; false when it certainly equals no earlier name.
    mutating func mayContain(_ name: JSONIndex.Node, _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard name.plain, !exact else {
            exact = true
            return true
        }
        let length = Int(name.end - name.start)
        let first = length > 2 ? Int(bytes[Int(name.start) + 1]) : 0
        let last = length > 2 ? Int(bytes[Int(name.end) - 2]) : 0
        let bit = UInt64(1) << UInt64((length &* 7 &+ first &* 3 &+ last) & 63)
        defer { bits |= bit }
        return bits & bit != 0
    }
}

/// Builds the node list with the strict parser's own checks.
private struct IndexBuilder {
    var parser: StrictJSONParser
    var nodes: [JSONIndex.Node] = []
    /// Key nodes of the objects being built (each object's keys from its base index on).
    var keys: [Int] = []
    var scratch: [UInt8] = []

    init(_ parser: StrictJSONParser) { self.parser = parser }

    var atEnd: Bool { parser.index >= parser.bytes.count }
    var current: UInt8 { parser.bytes[parser.index] }

    mutating func document() throws(JSONError) {
        parser.skipWhitespace()
        try value()
        parser.skipWhitespace()
        guard atEnd else { throw JSONError(reason: .trailingData, offset: parser.index) }
    }

    mutating func append(_ kind: JSONIndex.Kind, from start: Int, plain: Bool = false) {
        let next = UInt32(nodes.count + 1)
        nodes.append(JSONIndex.Node(
            start: UInt32(start), end: UInt32(parser.index), next: next, kind: kind, plain: plain))
    }

    mutating func value() throws(JSONError) {
        guard !atEnd else { throw parser.fail(.unexpectedEnd) }
        let start = parser.index
        switch current {
        case UInt8(ascii: "{"): try object()
        case UInt8(ascii: "["): try array()
        case UInt8(ascii: "\""): append(.string, from: start, plain: try parser.scanString(scratch: &scratch))
        case UInt8(ascii: "t"): try parser.expectLiteral("true"); append(.bool, from: start)
        case UInt8(ascii: "f"): try parser.expectLiteral("false"); append(.bool, from: start)
        case UInt8(ascii: "n"): try parser.expectLiteral("null"); append(.null, from: start)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            try parser.scanNumber()
            append(.number, from: start)
        default: throw parser.fail(.unexpectedByte)
        }
    }

    // Closes the container node opened at `node`.
    mutating func close(_ node: Int) {
        parser.index += 1
        parser.depth -= 1
        nodes[node].end = UInt32(parser.index)
        nodes[node].next = UInt32(nodes.count)
    }

    // Mirrors `StrictJSONParser.parseObject`, including its duplicate-name rule.
    mutating func object() throws(JSONError) {
        try parser.enter()
        let node = nodes.count
        append(.object, from: parser.index)
        parser.index += 1
        let keyBase = keys.count
        var seen: Set<String>? = nil
        var names = NameFilter()
        parser.skipWhitespace()
        if !atEnd, current == UInt8(ascii: "}") { return close(node) }
        while true {
            parser.skipWhitespace()
            guard !atEnd else { throw parser.fail(.unexpectedEnd) }
            guard current == UInt8(ascii: "\"") else { throw parser.fail(.unexpectedByte) }
            let keyOffset = parser.index
            let plain = try parser.scanString(scratch: &scratch)
            let keyNode = nodes.count
            append(.string, from: keyOffset, plain: plain)
            nodes[keyNode].isName = true
            if names.mayContain(nodes[keyNode], parser.bytes) {
                try checkDuplicate(keyNode, keyBase: keyBase, seen: &seen, offset: keyOffset)
            } else if seen != nil {
                seen!.insert(string(keyNode))
            }
            keys.append(keyNode)
            parser.skipWhitespace()
            guard !atEnd else { throw parser.fail(.unexpectedEnd) }
            guard current == UInt8(ascii: ":") else { throw parser.fail(.unexpectedByte) }
            parser.index += 1
            parser.skipWhitespace()
            try value()
            parser.skipWhitespace()
            guard !atEnd else { throw parser.fail(.unexpectedEnd) }
            if current == UInt8(ascii: ",") {
                parser.index += 1
                continue
            }
            guard current == UInt8(ascii: "}") else { throw parser.fail(.unexpectedByte) }
            keys.removeSubrange(keyBase...)
            return close(node)
        }
    }

    // Small objects linearly, larger ones through a set of decoded names (as `parseObject`).
    mutating func checkDuplicate(_ keyNode: Int, keyBase: Int, seen: inout Set<String>?, offset: Int)
        throws(JSONError)
    {
        if keys.count - keyBase < 16 {
            for position in keyBase..<keys.count where same(keys[position], keyNode) {
                throw JSONError(reason: .duplicateMember, offset: offset)
            }
        } else {
            if seen == nil { seen = Set(keys[keyBase...].map { string($0) }) }
            if !seen!.insert(string(keyNode)).inserted {
                throw JSONError(reason: .duplicateMember, offset: offset)
            }
        }
    }

    func string(_ node: Int) -> String {
        var reader = StrictJSONParser(parser.bytes, maxDepth: Int.max)
        reader.index = Int(nodes[node].start)
        return (try? reader.parseString()) ?? ""
    }

    func same(_ a: Int, _ b: Int) -> Bool {
        let (x, y) = (nodes[a], nodes[b])
        guard x.plain && y.plain else { return string(a) == string(b) }
        guard x.end - x.start == y.end - y.start else { return false }
        let other = UnsafeBufferPointer(rebasing: parser.bytes[Int(y.start)..<Int(y.end)])
        return JSONIndex.equal(parser.bytes, at: Int(x.start), other)
    }

    mutating func array() throws(JSONError) {
        try parser.enter()
        let node = nodes.count
        append(.array, from: parser.index)
        parser.index += 1
        parser.skipWhitespace()
        if !atEnd, current == UInt8(ascii: "]") { return close(node) }
        while true {
            parser.skipWhitespace()
            try value()
            parser.skipWhitespace()
            guard !atEnd else { throw parser.fail(.unexpectedEnd) }
            if current == UInt8(ascii: ",") {
                parser.index += 1
                continue
            }
            guard current == UInt8(ascii: "]") else { throw parser.fail(.unexpectedByte) }
            return close(node)
        }
    }
}

extension StrictJSONParser {
    /// Validates the string at `index` exactly as `parseString` does, without building it; true when it has
    /// no escape and no non-ASCII byte (its source bytes are its value).
    mutating func scanString(scratch: inout [UInt8]) throws(JSONError) -> Bool {
        index += 1  // opening quote
        var plain = true
        while index < bytes.count {
            skipOrdinaryBytes()
            guard index < bytes.count else { break }
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                index += 1
                return plain
            } else if b == UInt8(ascii: "\\") {
                index += 1
                plain = false
                scratch.removeAll(keepingCapacity: true)
                try parseEscape(into: &scratch)
            } else if b < 0x20 {
                throw fail(.invalidString)
            } else if b >= 0x80 {
                plain = false
                scratch.removeAll(keepingCapacity: true)
                try copyUTF8Sequence(into: &scratch)
            } else {
                index += 1
            }
        }
        throw fail(.unexpectedEnd)
    }

    /// Moves `index` past whole 8-byte words that hold no quote, backslash, control or non-ASCII byte (the
    /// bytes `scanString` has nothing to do for); the byte loop decides everything else, so a word flagged
    /// by mistake only costs time.
    mutating func skipOrdinaryBytes() {
        guard let base = bytes.baseAddress else { return }
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        while index + 8 <= bytes.count {
            let word = UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self)
            let quote = word ^ (ones &* 0x22)
            let backslash = word ^ (ones &* 0x5C)
            // A byte below n sets its high bit in (x - n·ones) & ~x (the "has less than" idiom).
            let special = ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash)
                | ((word &- ones &* 0x20) & ~word) | word
            if special & highs != 0 { return }
            index += 8
        }
    }
}
