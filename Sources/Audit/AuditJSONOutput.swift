// Where the AuditEvent builder writes: one description of every shape (AuditEventBuilder*.swift), two
// outputs. `CanonicalBytesOutput` writes the chain's canonical bytes directly (the request hot path: no
// intermediate tree, no sort, no second serialization); `JSONTreeOutput` builds the same event as a
// `JSONValue` (`AuditEventBuilder.build`: tests, tools). The builder emits every object's members in
// canonical order (byte order of their names, docs/audit.md "Record format"), so the bytes are exactly what
// `CanonicalJSON.serialize` makes of the tree; AuditCanonicalWriterTests checks that over a corpus of events.

import GatewayCore

/// Receives a JSON document as a stream of events. Object member names must arrive in byte order.
protocol AuditJSONOutput {
    mutating func beginObject()
    mutating func endObject()
    mutating func beginArray()
    mutating func endArray()
    /// The next member's name: a literal made of ASCII letters (nothing to escape).
    mutating func key(_ name: StaticString)
    mutating func string(_ value: String)
    mutating func bool(_ value: Bool)
}

extension AuditJSONOutput {
    /// `{ body }` as one value.
    @inline(__always)
    mutating func object(_ body: (inout Self) -> Void) {
        beginObject()
        body(&self)
        endObject()
    }

    /// `[ body ]` as one value.
    @inline(__always)
    mutating func array(_ body: (inout Self) -> Void) {
        beginArray()
        body(&self)
        endArray()
    }

    /// A member whose value is written by `body`.
    @inline(__always)
    mutating func member(_ name: StaticString, _ body: (inout Self) -> Void) {
        key(name)
        body(&self)
    }

    /// A string member.
    @inline(__always)
    mutating func member(_ name: StaticString, _ value: String) {
        key(name)
        string(value)
    }

    /// A boolean member.
    @inline(__always)
    mutating func member(_ name: StaticString, _ value: Bool) {
        key(name)
        bool(value)
    }
}

/// Writes canonical JSON bytes (CanonicalJSON's rules) as the events arrive.
struct CanonicalBytesOutput: AuditJSONOutput {
    var bytes: [UInt8]
    /// True when the next member or element needs a comma before it.
    private var afterValue = false

    /// `capacity`: a typical event is 2-4 KB; reserving enough at once avoids regrowing the buffer.
    init(capacity: Int = 4096) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    private mutating func separate() {
        if afterValue { bytes.append(UInt8(ascii: ",")) }
    }

    private mutating func open(_ bracket: UInt8) {
        separate()
        bytes.append(bracket)
        afterValue = false
    }

    private mutating func close(_ bracket: UInt8) {
        bytes.append(bracket)
        afterValue = true
    }

    mutating func beginObject() { open(UInt8(ascii: "{")) }

    mutating func endObject() { close(UInt8(ascii: "}")) }

    mutating func beginArray() { open(UInt8(ascii: "[")) }

    mutating func endArray() { close(UInt8(ascii: "]")) }

    mutating func key(_ name: StaticString) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
        afterValue = false
    }

    mutating func string(_ value: String) {
        separate()
        CanonicalJSON.writeString(value, into: &bytes)
        afterValue = true
    }

    mutating func bool(_ value: Bool) {
        separate()
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
        afterValue = true
    }
}

/// Builds a `JSONValue` from the events, members in the order they arrive.
struct JSONTreeOutput: AuditJSONOutput {
    private enum Frame {
        case object([(key: String, value: JSONValue)], key: String?)
        case array([JSONValue])
    }

    private var stack: [Frame] = []
    /// The finished document (after the outermost container ended).
    private(set) var value: JSONValue = .null

    private mutating func add(_ value: JSONValue) {
        guard let top = stack.popLast() else {
            self.value = value
            return
        }
        switch top {
        case .object(var members, let key):
            members.append((key: key ?? "", value: value))
            stack.append(.object(members, key: nil))
        case .array(var items):
            items.append(value)
            stack.append(.array(items))
        }
    }

    mutating func beginObject() { stack.append(.object([], key: nil)) }

    mutating func endObject() {
        guard case .object(let members, _)? = stack.popLast() else { preconditionFailure("unbalanced object") }
        add(.object(JSONObject(members: members)))
    }

    mutating func beginArray() { stack.append(.array([])) }

    mutating func endArray() {
        guard case .array(let items)? = stack.popLast() else { preconditionFailure("unbalanced array") }
        add(.array(items))
    }

    mutating func key(_ name: StaticString) {
        guard case .object(let members, _)? = stack.popLast() else { preconditionFailure("key outside an object") }
        let key = name.description
        // The bytes output cannot sort, so the builder must write names in byte order; tests build trees.
        assert(
            members.last.map { Array($0.key.utf8).lexicographicallyPrecedes(key.utf8) } ?? true, "\(key) out of order")
        stack.append(.object(members, key: key))
    }

    mutating func string(_ value: String) { add(.string(value)) }

    mutating func bool(_ value: Bool) { add(.bool(value)) }
}
