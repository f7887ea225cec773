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
}

extension JSONCursor: JSONReading {
    func forEachNamedMember(_ body: (String, JSONCursor) -> Void) {
        forEachMember { key, value in body(key.stringValue ?? "", value) }
    }

    // Compares names on the index (no String per member): this walks every released resource.
    func forEachReferenceString(_ body: (String) -> Void) {
        switch kind {
        case .array:
            for item in elements ?? [] { item.forEachReferenceString(body) }
        case .object:
            forEachMember { key, value in
                if key.isString("reference"), let literal = value.stringValue {
                    body(literal)
                } else {
                    value.forEachReferenceString(body)
                }
            }
        default:
            return
        }
    }
}
