// One attribute's matcher, from YAML: a scalar (equality, or membership for set attributes), a list
// (any of these values), or a mapping of matcher keywords that must all hold. Values are checked
// against the attribute's type and, for closed vocabularies (interaction kinds, client kinds, weekdays),
// against the allowed values, so a typo fails loading instead of silently never matching.
import GatewayYAML

struct MatcherCompiler {
    let attribute: Attribute
    private(set) var errors: [YAMLDecodingError] = []

    init(attribute: Attribute) {
        self.attribute = attribute
    }

    mutating func compile(_ node: YAMLNode) -> Matcher? {
        do {
            return try matcher(node)
        } catch {
            errors.append(error)
            return nil
        }
    }

    private var name: String { attribute.rawValue }
    private var type: AttributeType { attribute.type }

    private func matcher(_ node: YAMLNode) throws(YAMLDecodingError) -> Matcher {
        switch node.value {
        case .scalar:
            if node.isNull { throw YAMLDecodingError(at: node, "missing matcher for \(name)") }
            return try shorthand(node)
        case .sequence(let items):
            return try membership(items, at: node)
        case .mapping(let entries):
            guard !entries.isEmpty else { throw YAMLDecodingError(at: node, "empty matcher for \(name)") }
            var parts: [Matcher] = []
            for entry in entries {
                parts.append(try keyword(entry.key.scalarText ?? "", keyNode: entry.key, value: entry.value))
            }
            return parts.count == 1 ? parts[0] : .all(parts)
        }
    }

    /// `attribute: value`.
    private func shorthand(_ node: YAMLNode) throws(YAMLDecodingError) -> Matcher {
        switch type {
        case .string:
            return .equalsString(try stringValue(node))
        case .stringSet:
            if node.isPlainScalar && node.scalarText == "exactly-one" { return .count(min: 1, max: 1) }
            if node.isPlainScalar && node.scalarText == "none" { return .count(min: 0, max: 0) }
            return .contains(try stringValue(node))
        case .bool:
            return .equalsBool(try node.bool())
        case .presence:
            return .exists(try node.bool())
        case .int:
            return .inInts([try intValue(node)])
        case .address:
            let text = try node.string()
            if text.contains("/") { return .cidr([try cidr(node)]) }
            guard let address = IPAddress(text) else {
                throw YAMLDecodingError(at: node, "'\(text)' is not an IP address or CIDR block")
            }
            return .equalsAddress(address)
        }
    }

    /// `attribute: [a, b]` and `in: [a, b]`.
    private func membership(_ items: [YAMLNode], at node: YAMLNode) throws(YAMLDecodingError) -> Matcher {
        guard !items.isEmpty else { throw YAMLDecodingError(at: node, "an empty list never matches") }
        switch type {
        case .string:
            var values: [String] = []
            for item in items { values.append(try stringValue(item)) }
            return .inStrings(values)
        case .stringSet:
            var values: [String] = []
            for item in items { values.append(try stringValue(item)) }
            return .intersects(values)
        case .int:
            var values: [Int] = []
            for item in items { values.append(try intValue(item)) }
            return .inInts(values)
        case .address:
            var blocks: [CIDRBlock] = []
            for item in items { blocks.append(try cidr(item)) }
            return .cidr(blocks)
        case .bool, .presence:
            throw notApplicable("a list", at: node)
        }
    }

    // MARK: Keywords

    private func keyword(_ key: String, keyNode: YAMLNode, value: YAMLNode) throws(YAMLDecodingError) -> Matcher {
        switch key {
        case "equals":
            guard value.scalarText != nil, type != .stringSet, type != .presence else {
                throw notApplicable("equals", at: keyNode, hint: type == .stringSet ? "use contains, in or count" : nil)
            }
            return try shorthand(value)
        case "in":
            guard let items = value.sequenceItems else { throw value.mismatch("a list of values") }
            return try membership(items, at: value)
        case "contains":
            guard type == .stringSet else { throw notApplicable("contains", at: keyNode, hint: "use equals") }
            return .contains(try stringValue(value))
        case "not":
            return .not(try matcher(value))
        case "all-of", "any-of":
            guard let items = value.sequenceItems, !items.isEmpty else {
                throw value.mismatch("a non-empty list of matchers")
            }
            var parts: [Matcher] = []
            for item in items { parts.append(try matcher(item)) }
            return key == "all-of" ? .all(parts) : .any(parts)
        case "exists":
            return .exists(try value.bool())
        case "cidr":
            guard type == .address else { throw notApplicable("cidr", at: keyNode) }
            if let items = value.sequenceItems { return try membership(items, at: value) }
            return .cidr([try cidr(value)])
        case "cidr_attribute":
            guard type == .address else { throw notApplicable("cidr_attribute", at: keyNode) }
            return .cidrAttribute(try otherAttribute(value, allowed: [.stringSet]))
        case "in_attribute":
            guard type == .string || type == .stringSet else { throw notApplicable("in_attribute", at: keyNode) }
            return .inAttribute(try otherAttribute(value, allowed: [.string, .stringSet]))
        default:
            return try numeric(key, keyNode: keyNode, value: value)
        }
    }

    private func numeric(_ key: String, keyNode: YAMLNode, value: YAMLNode) throws(YAMLDecodingError) -> Matcher {
        switch key {
        case "count":
            guard type == .stringSet else { throw notApplicable("count", at: keyNode) }
            if value.mappingEntries != nil {
                try value.expectKeys(["min", "max"])
                let low = try value.optionalInt(at: "min") ?? 0
                let high = try value.optionalInt(at: "max") ?? Int.max
                guard low >= 0, low <= high else { throw YAMLDecodingError(at: value, "count needs 0 <= min <= max") }
                return .count(min: low, max: high)
            }
            let exact = try value.int()
            guard exact >= 0 else { throw YAMLDecodingError(at: value, "a count cannot be negative") }
            return .count(min: exact, max: exact)
        case "min", "max":
            guard type == .int else {
                throw notApplicable(key, at: keyNode, hint: type == .stringSet ? "use count: {\(key): N}" : nil)
            }
            let bound = try intValue(value)
            return key == "min" ? .intRange(min: bound, max: Int.max) : .intRange(min: Int.min, max: bound)
        default:
            let known = PolicyCompiler.matcherKeywords.joined(separator: ", ")
            throw YAMLDecodingError(at: keyNode, "unknown matcher '\(key)' for \(name) (expected one of: \(known))")
        }
    }

    // MARK: Values

    private func stringValue(_ node: YAMLNode) throws(YAMLDecodingError) -> String {
        guard node.scalarText != nil else { throw node.mismatch("a value for \(name) (\(type.rawValue))") }
        var text = try node.string()
        if attribute == .requestOperation, text.hasPrefix("$") { text.removeFirst() }
        if let allowed = attribute.allowedValues, !allowed.contains(text) {
            throw YAMLDecodingError(
                at: node, "unknown value '\(text)' for \(name) (expected one of: \(allowed.joined(separator: ", ")))")
        }
        if attribute == .requestType || attribute == .requestReturnedTypes, !Self.isResourceType(text) {
            throw YAMLDecodingError(at: node, "'\(text)' is not a FHIR resource type (e.g. MedicationDispense)")
        }
        return text
    }

    private func intValue(_ node: YAMLNode) throws(YAMLDecodingError) -> Int {
        let value = try node.int()
        if attribute == .timeHour, !(0...23).contains(value) {
            throw YAMLDecodingError(at: node, "an hour is 0 to 23")
        }
        return value
    }

    private func cidr(_ node: YAMLNode) throws(YAMLDecodingError) -> CIDRBlock {
        let text = try node.string()
        guard let block = CIDRBlock(text, strict: true) else {
            let hint = CIDRBlock(text) != nil ? " (host bits are set after the prefix)" : ""
            throw YAMLDecodingError(at: node, "'\(text)' is not a CIDR block\(hint)")
        }
        return block
    }

    private func otherAttribute(_ node: YAMLNode, allowed: [AttributeType]) throws(YAMLDecodingError) -> Attribute {
        let key = try node.string()
        guard let other = Attribute(rawValue: key) else {
            throw YAMLDecodingError(at: node, PolicyCompiler.unknownAttributeMessage(key))
        }
        guard allowed.contains(other.type), other != attribute else {
            throw YAMLDecodingError(at: node, "\(key) (\(other.type.rawValue)) cannot be compared with \(name)")
        }
        return other
    }

    private func notApplicable(_ what: String, at node: YAMLNode, hint: String? = nil) -> YAMLDecodingError {
        let suffix = hint.map { "; \($0)" } ?? ""
        return YAMLDecodingError(at: node, "\(what) does not apply to \(name) (\(type.rawValue))\(suffix)")
    }

    private static func isResourceType(_ text: String) -> Bool {
        guard let first = text.utf8.first, (0x41...0x5A).contains(first) else { return false }
        return text.utf8.allSatisfy { (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }
    }
}
