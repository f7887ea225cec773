// Read access shared by the parsed tree (`JSONValue`) and the byte index (`JSONCursor`), so that the
// compartment and constraint rules are written once and decide the same on both (issue #5: the spliced
// Bundle inspection must keep every rule of the tree inspection exactly).
import GatewayCore

/// A JSON value the inspection rules can read.
protocol JSONReading {
    /// Member lookup on objects; nil for other kinds.
    subscript(key: String) -> Self? { get }
    /// The decoded string; nil for other kinds.
    var stringValue: String? { get }
    var isObject: Bool { get }
    /// The elements of an array; nil for other kinds.
    var elements: [Self]? { get }
    /// Calls `body` with each member of an object in document order; nothing for other kinds.
    func forEachNamedMember(_ body: (String, Self) -> Void)
    /// Calls `body` with every string that is the value of a member named `reference`, at any depth.
    func forEachReferenceString(_ body: (String) -> Void)
    /// `forEachReferenceString`, restricted to the strings that contain `Patient/` (the only ones that can
    /// resolve to a Patient): the others are never decoded.
    func forEachPatientReferenceString(_ body: (String) -> Void)
}

/// True when `bytes` contain `Patient/`.
func mentionsPatient<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> Bool {
    let marker: [UInt8] = Array("Patient/".utf8)
    var index = bytes.startIndex
    while let found = bytes[index...].firstIndex(of: UInt8(ascii: "P")) {
        if bytes[found...].starts(with: marker) { return true }
        index = bytes.index(after: found)
    }
    return false
}

extension JSONValue: JSONReading {
    var isObject: Bool { objectValue != nil }
    var elements: [JSONValue]? { arrayValue }

    func forEachNamedMember(_ body: (String, JSONValue) -> Void) {
        guard case .object(let object) = self else { return }
        for member in object.members { body(member.key, member.value) }
    }

    func forEachReferenceString(_ body: (String) -> Void) {
        switch self {
        case .array(let items):
            for item in items { item.forEachReferenceString(body) }
        case .object(let object):
            for member in object.members {
                if member.key == "reference", case .string(let literal) = member.value {
                    body(literal)
                } else {
                    member.value.forEachReferenceString(body)
                }
            }
        default:
            return
        }
    }

    func forEachPatientReferenceString(_ body: (String) -> Void) {
        forEachReferenceString { literal in
            if mentionsPatient(literal.utf8) { body(literal) }
        }
    }
}

extension JSONCursor: JSONReading {
    func forEachNamedMember(_ body: (String, JSONCursor) -> Void) {
        forEachMember { key, value in body(key.stringValue ?? "", value) }
    }

    // One pass over the index's nodes (no String per member name): this walks every released resource.
    func forEachReferenceString(_ body: (String) -> Void) {
        forEachString(named: "reference") { value in
            if let literal = value.stringValue { body(literal) }
        }
    }

    func forEachPatientReferenceString(_ body: (String) -> Void) {
        forEachString(named: "reference") { value in
            // A plain string's bytes are its value: most references are decided without making a String.
            if let range = value.plainStringBytes, !mentionsPatient(document.bytes[range]) { return }
            if let literal = value.stringValue, mentionsPatient(literal.utf8) { body(literal) }
        }
    }
}
