// Compiled conditions: what a rule's `when` becomes after loading. Matching walks a small tree of
// enums with precomputed values (parsed CIDR blocks, normalised operation names), so a decision does
// no parsing and no allocation except for what an attribute comparison with a client's registered
// networks needs.
import GatewayYAML

/// A test of one attribute's value.
indirect enum Matcher: Sendable {
    case equalsString(String)
    case inStrings([String])
    /// Set attribute: the set contains the value.
    case contains(String)
    /// Set attribute: the set shares at least one value with the list.
    case intersects([String])
    /// Set attribute: the number of elements is within `min...max`.
    case count(min: Int, max: Int)
    case equalsBool(Bool)
    case intRange(min: Int, max: Int)
    case inInts([Int])
    /// The attribute has a value (a non-empty set; a present string; `true` for presence flags).
    case exists(Bool)
    case cidr([CIDRBlock])
    /// The address lies in one of the CIDR blocks listed by a set attribute (e.g. `client.networks`).
    case cidrAttribute(Attribute)
    /// The value (every element of a non-empty set) is in the other attribute (a set, or equal to a string).
    case inAttribute(Attribute)
    case equalsAddress(IPAddress)
    case not(Matcher)
    case all([Matcher])
    case any([Matcher])
}

/// One `attribute: matcher` line of a `when` block, with its source for explanations.
struct AttributeTest: Sendable {
    var attribute: Attribute
    var matcher: Matcher
    /// The condition as written, e.g. `request.kind: {in: [read, vread]}`.
    var source: String
    var mark: YAMLMark
}

/// A compiled `when` block.
indirect enum Condition: Sendable {
    case all([Condition])
    case any([Condition])
    case not(Condition)
    case test(AttributeTest)

    static let always = Condition.all([])
}

// MARK: - Evaluation

extension Condition {
    func matches(_ input: PolicyInput, _ facts: inout LazyFacts) -> Bool {
        switch self {
        case .all(let children):
            for child in children where !child.matches(input, &facts) { return false }
            return true
        case .any(let children):
            for child in children where child.matches(input, &facts) { return true }
            return false
        case .not(let child):
            return !child.matches(input, &facts)
        case .test(let test):
            return test.matcher.matches(test.attribute, input, &facts)
        }
    }
}

extension Matcher {
    /// Whether `attribute`'s value in `input` passes this matcher. An absent value passes only
    /// `exists: false` (and negations of matchers it fails).
    func matches(_ attribute: Attribute, _ input: PolicyInput, _ facts: inout LazyFacts) -> Bool {
        switch self {
        case .not(let inner):
            return !inner.matches(attribute, input, &facts)
        case .all(let inner):
            for matcher in inner where !matcher.matches(attribute, input, &facts) { return false }
            return true
        case .any(let inner):
            for matcher in inner where matcher.matches(attribute, input, &facts) { return true }
            return false
        default:
            break
        }
        switch attribute.type {
        case .string: return matchString(attribute.string(input, &facts), attribute, input, &facts)
        case .stringSet: return matchSet(attribute.set(input, &facts), input, &facts)
        case .bool, .presence: return matchBool(attribute.bool(input, &facts))
        case .int: return matchInt(attribute.int(input, &facts))
        case .address: return matchAddress(facts.clientAddress(input), input, &facts)
        }
    }

    private func matchString(
        _ value: String?, _ attribute: Attribute, _ input: PolicyInput, _ facts: inout LazyFacts
    ) -> Bool {
        if case .exists(let expected) = self { return (value != nil) == expected }
        guard let value else { return false }
        switch self {
        case .equalsString(let expected): return value == expected
        case .inStrings(let options): return options.contains(value)
        case .inAttribute(let other): return Self.isIn(value, other, input, &facts)
        default: return false
        }
    }

    private func matchSet(_ values: StringSetView, _ input: PolicyInput, _ facts: inout LazyFacts) -> Bool {
        switch self {
        case .exists(let expected): return (values.count > 0) == expected
        case .contains(let expected): return values.contains(expected)
        case .intersects(let options): return options.contains { values.contains($0) }
        case .count(let min, let max): return (min...max).contains(values.count)
        case .inAttribute(let other):
            guard values.count > 0 else { return false }
            return values.allSatisfy { Self.isIn($0, other, input, &facts) }
        default: return false
        }
    }

    private func matchBool(_ value: Bool?) -> Bool {
        switch self {
        case .exists(let expected): return (value ?? false) == expected
        case .equalsBool(let expected): return value == expected
        default: return false
        }
    }

    private func matchInt(_ value: Int?) -> Bool {
        if case .exists(let expected) = self { return (value != nil) == expected }
        guard let value else { return false }
        switch self {
        case .intRange(let min, let max): return value >= min && value <= max
        case .inInts(let options): return options.contains(value)
        default: return false
        }
    }

    private func matchAddress(_ address: IPAddress?, _ input: PolicyInput, _ facts: inout LazyFacts) -> Bool {
        if case .exists(let expected) = self { return (address != nil) == expected }
        guard let address else { return false }
        switch self {
        case .equalsAddress(let expected): return address == expected
        case .cidr(let blocks): return blocks.contains { $0.contains(address) }
        case .cidrAttribute(let other): return Self.address(address, isInNetworksOf: other, input, &facts)
        default: return false
        }
    }

    /// The address lies in one of the CIDR blocks listed by `other` (e.g. `client.networks`). Registry
    /// entries are parsed here, allocation-free; an unparsable entry matches nothing.
    static func address(
        _ address: IPAddress, isInNetworksOf other: Attribute, _ input: PolicyInput, _ facts: inout LazyFacts
    ) -> Bool {
        other.set(input, &facts).contains { text in
            let block = text.utf8.withContiguousStorageIfAvailable { CIDRBlock.parse($0, strict: false) }
            return (block ?? CIDRBlock(text)).map { $0.contains(address) } ?? false
        }
    }

    /// `value` is an element of `other` (a set attribute) or equal to it (a string attribute).
    private static func isIn(
        _ value: String, _ other: Attribute, _ input: PolicyInput, _ facts: inout LazyFacts
    ) -> Bool {
        if other.type == .stringSet { return other.set(input, &facts).contains(value) }
        return other.string(input, &facts) == value
    }
}
