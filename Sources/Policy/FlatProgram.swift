// The evaluator's hot-path form of compiled conditions (issue #6: >= 1,000,000 decisions/s on one core).
// The condition trees (Condition/Matcher) are convenient for checking and explaining but walking indirect
// enums retains and releases every node and payload. Here the same trees are laid out in prefix order in
// one array of trivial nodes; each node records the size of its subtree so a failed `all` can skip ahead.
// Constants live in side tables (strings, integers, CIDR blocks) addressed by index. A decision borrows
// the arrays once and then walks them through unsafe buffer pointers: no reference counting per node.
//
// `Condition.matches` (the tree walk) stays the reference semantics; tests check both agree.
//
// TODO(#6): about 5,900 instructions a decision for the sample set (callgrind), 1.1-2.1 µs on the shared
// 2-core build VM: short of 1,000,000/s there. Next steps: intern constant and registry strings to integer
// ids at load time, and order each rule's tests cheapest-first.

/// One node of a flattened condition. Trivial (no references), so reading it costs nothing.
struct FlatNode: Sendable {
    enum Op: UInt8, Sendable {
        // Condition level.
        case all, any, not
        /// Test `attribute` with the matcher subtree that follows.
        case test
        // Matcher level (inside a test).
        case matchAll, matchAny, matchNot
        case equalsString, inStrings, contains, intersects, count, equalsBool, intRange, inInts, exists, cidr
        case cidrAttribute, inAttribute, equalsAddress
    }

    var op: Op
    var attribute: Attribute
    /// The number of nodes in this subtree, itself included.
    var size: Int32
    /// Operands: table index and count, bounds, a boolean (0/1), or another attribute's index.
    var a: Int
    var b: Int
}

/// Flattened conditions for a whole rule list, with their constant tables.
struct FlatProgram: Sendable {
    private(set) var nodes: [FlatNode] = []
    private(set) var strings: [String] = []
    private(set) var ints: [Int] = []
    private(set) var blocks: [CIDRBlock] = []
    /// The root node of each rule, in rule order.
    private(set) var roots: [Int] = []

    init(conditions: [Condition]) {
        for condition in conditions {
            roots.append(nodes.count)
            append(condition)
        }
    }

    // MARK: Building

    private mutating func append(_ condition: Condition) {
        switch condition {
        case .all(let children): group(.all, .clientID, children.count) { for c in children { $0.append(c) } }
        case .any(let children): group(.any, .clientID, children.count) { for c in children { $0.append(c) } }
        case .not(let child): group(.not, .clientID, 1) { $0.append(child) }
        case .test(let test): group(.test, test.attribute, 1) { $0.append(test.matcher, test.attribute) }
        }
    }

    private mutating func append(_ matcher: Matcher, _ attribute: Attribute) {
        switch matcher {
        case .all(let inner): group(.matchAll, attribute, inner.count) { for m in inner { $0.append(m, attribute) } }
        case .any(let inner): group(.matchAny, attribute, inner.count) { for m in inner { $0.append(m, attribute) } }
        case .not(let inner): group(.matchNot, attribute, 1) { $0.append(inner, attribute) }
        case .equalsString(let value): leaf(.equalsString, attribute, a: strings.count, b: 1, strings: [value])
        case .inStrings(let values): leaf(.inStrings, attribute, a: strings.count, b: values.count, strings: values)
        case .contains(let value): leaf(.contains, attribute, a: strings.count, b: 1, strings: [value])
        case .intersects(let values): leaf(.intersects, attribute, a: strings.count, b: values.count, strings: values)
        case .count(let min, let max): leaf(.count, attribute, a: min, b: max)
        case .equalsBool(let value): leaf(.equalsBool, attribute, a: value ? 1 : 0, b: 0)
        case .intRange(let min, let max): leaf(.intRange, attribute, a: min, b: max)
        case .inInts(let values):
            leaf(.inInts, attribute, a: ints.count, b: values.count)
            ints += values
        case .exists(let value): leaf(.exists, attribute, a: value ? 1 : 0, b: 0)
        case .cidr(let list):
            leaf(.cidr, attribute, a: blocks.count, b: list.count)
            blocks += list
        case .cidrAttribute(let other): leaf(.cidrAttribute, attribute, a: Self.index(of: other), b: 0)
        case .inAttribute(let other): leaf(.inAttribute, attribute, a: Self.index(of: other), b: 0)
        case .equalsAddress(let address):
            leaf(.equalsAddress, attribute, a: blocks.count, b: 1)
            blocks.append(CIDRBlock(address.description)!)
        }
    }

    /// Appends a group node, then its children, then patches the group's size.
    private mutating func group(
        _ op: FlatNode.Op, _ attribute: Attribute, _ count: Int, _ children: (inout Self) -> Void
    ) {
        let start = nodes.count
        nodes.append(FlatNode(op: op, attribute: attribute, size: 1, a: count, b: 0))
        children(&self)
        nodes[start].size = Int32(nodes.count - start)
    }

    private mutating func leaf(
        _ op: FlatNode.Op, _ attribute: Attribute, a: Int, b: Int, strings values: [String] = []
    ) {
        nodes.append(FlatNode(op: op, attribute: attribute, size: 1, a: a, b: b))
        strings += values
    }

    static let attributes = Attribute.allCases
    private static func index(of attribute: Attribute) -> Int { attributes.firstIndex(of: attribute)! }
}

// MARK: - Evaluation

/// Owns a copy of a FlatProgram's tables in manually allocated memory for the life of a PolicySet, so a
/// decision can walk them through plain pointers without borrowing arrays (which, through closures,
/// copied the input and the decision at every step).
final class FlatTables: @unchecked Sendable {
    // @unchecked Sendable: the buffers are written once in init, never mutated, and freed in deinit.
    let evaluator: FlatEvaluator
    let roots: [Int]
    // Allocations (at least one element each, so every base address is real), freed in deinit.
    private let nodes: UnsafeMutableBufferPointer<FlatNode>
    private let strings: UnsafeMutableBufferPointer<String>
    private let stringCount: Int
    private let ints: UnsafeMutableBufferPointer<Int>
    private let blocks: UnsafeMutableBufferPointer<CIDRBlock>

    init(_ program: FlatProgram) {
        nodes = Self.allocate(program.nodes)
        strings = Self.allocate(program.strings)
        stringCount = program.strings.count
        ints = Self.allocate(program.ints)
        blocks = Self.allocate(program.blocks)
        roots = program.roots
        evaluator = FlatEvaluator(
            nodes: UnsafeBufferPointer(rebasing: nodes[0..<program.nodes.count]),
            strings: UnsafeBufferPointer(rebasing: strings[0..<program.strings.count]),
            ints: UnsafeBufferPointer(rebasing: ints[0..<program.ints.count]),
            blocks: UnsafeBufferPointer(rebasing: blocks[0..<program.blocks.count]))
    }

    deinit {
        nodes.deallocate()
        strings.baseAddress?.deinitialize(count: stringCount)
        strings.deallocate()
        ints.deallocate()
        blocks.deallocate()
    }

    private static func allocate<T>(_ array: [T]) -> UnsafeMutableBufferPointer<T> {
        let buffer = UnsafeMutableBufferPointer<T>.allocate(capacity: max(array.count, 1))
        _ = buffer.initialize(from: array)
        return buffer
    }
}

/// A view of flattened conditions (pointers into a FlatTables' memory).
struct FlatEvaluator {
    let nodes: UnsafeBufferPointer<FlatNode>
    let strings: UnsafeBufferPointer<String>
    let ints: UnsafeBufferPointer<Int>
    let blocks: UnsafeBufferPointer<CIDRBlock>

    /// Whether the condition rooted at `index` holds.
    func condition(_ index: Int, _ input: PolicyInput, _ facts: inout LazyFacts) -> Bool {
        let node = nodes[index]
        switch node.op {
        case .all:
            var child = index + 1
            let end = index + Int(node.size)
            while child < end {
                if !condition(child, input, &facts) { return false }
                child += Int(nodes[child].size)
            }
            return true
        case .any:
            var child = index + 1
            let end = index + Int(node.size)
            while child < end {
                if condition(child, input, &facts) { return true }
                child += Int(nodes[child].size)
            }
            return false
        case .not:
            return !condition(index + 1, input, &facts)
        default:
            return matcher(index + 1, input, &facts)
        }
    }

    private func matcher(_ index: Int, _ input: PolicyInput, _ facts: inout LazyFacts) -> Bool {
        let node = nodes[index]
        switch node.op {
        case .matchAll:
            var child = index + 1
            let end = index + Int(node.size)
            while child < end {
                if !matcher(child, input, &facts) { return false }
                child += Int(nodes[child].size)
            }
            return true
        case .matchAny:
            var child = index + 1
            let end = index + Int(node.size)
            while child < end {
                if matcher(child, input, &facts) { return true }
                child += Int(nodes[child].size)
            }
            return false
        case .matchNot:
            return !matcher(index + 1, input, &facts)
        default:
            break
        }
        switch node.attribute.type {
        case .string: return string(node, node.attribute.string(input, &facts), input, &facts)
        case .stringSet: return set(node, node.attribute.set(input, &facts), input, &facts)
        case .bool, .presence: return bool(node, node.attribute.bool(input, &facts))
        case .int: return int(node, node.attribute.int(input, &facts))
        case .address: return address(node, facts.clientAddress(input), input, &facts)
        }
    }

    // The leaf semantics below mirror Matcher.matches exactly.

    private func string(_ node: FlatNode, _ value: String?, _ input: PolicyInput, _ facts: inout LazyFacts) -> Bool {
        if node.op == .exists { return (value != nil) == (node.a == 1) }
        guard let value else { return false }
        switch node.op {
        case .equalsString: return value == strings[node.a]
        case .inStrings: return inStrings(value, node)
        case .inAttribute: return isIn(value, FlatProgram.attributes[node.a], input, &facts)
        default: return false
        }
    }

    private func set(
        _ node: FlatNode, _ values: StringSetView, _ input: PolicyInput, _ facts: inout LazyFacts
    ) -> Bool {
        switch node.op {
        case .exists: return (values.count > 0) == (node.a == 1)
        case .contains: return values.contains(strings[node.a])
        case .intersects:
            for offset in 0..<node.b where values.contains(strings[node.a + offset]) { return true }
            return false
        case .count:
            let count = values.count
            return count >= node.a && count <= node.b
        case .inAttribute:
            guard values.count > 0 else { return false }
            let other = FlatProgram.attributes[node.a]
            return values.allSatisfy { isIn($0, other, input, &facts) }
        default: return false
        }
    }

    private func bool(_ node: FlatNode, _ value: Bool?) -> Bool {
        switch node.op {
        case .exists: return (value ?? false) == (node.a == 1)
        case .equalsBool: return value == (node.a == 1)
        default: return false
        }
    }

    private func int(_ node: FlatNode, _ value: Int?) -> Bool {
        if node.op == .exists { return (value != nil) == (node.a == 1) }
        guard let value else { return false }
        switch node.op {
        case .intRange: return value >= node.a && value <= node.b
        case .inInts:
            for offset in 0..<node.b where ints[node.a + offset] == value { return true }
            return false
        default: return false
        }
    }

    private func address(
        _ node: FlatNode, _ address: IPAddress?, _ input: PolicyInput, _ facts: inout LazyFacts
    ) -> Bool {
        if node.op == .exists { return (address != nil) == (node.a == 1) }
        guard let address else { return false }
        switch node.op {
        case .equalsAddress, .cidr:
            for offset in 0..<node.b where blocks[node.a + offset].contains(address) { return true }
            return false
        case .cidrAttribute:
            return Matcher.address(address, isInNetworksOf: FlatProgram.attributes[node.a], input, &facts)
        default: return false
        }
    }

    private func inStrings(_ value: String, _ node: FlatNode) -> Bool {
        for offset in 0..<node.b where strings[node.a + offset] == value { return true }
        return false
    }

    private func isIn(_ value: String, _ other: Attribute, _ input: PolicyInput, _ facts: inout LazyFacts) -> Bool {
        if other.type == .stringSet { return other.set(input, &facts).contains(value) }
        return other.string(input, &facts) == value
    }
}
