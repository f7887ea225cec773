// Finds rules that can never match, such as `request.kind: read` together with `request.kind: search-type`
// in one `all-of`, or `request.patients: exactly-one` with `request.patients: none`. Such a rule is almost
// always an authoring mistake that silently turns a permit into nothing (or a forbid into nothing).
//
// Method: the tests of one conjunction are grouped by attribute, and each group is tried against a small
// set of candidate values that covers every distinct outcome: the values the tests mention, one value they
// do not mention, and "absent" (for sets: subsets of the mentioned values padded with unmentioned ones to
// the sizes around every count bound). Comparisons with other attributes are "unknown" and never make a
// rule unsatisfiable. Attributes are independent, so the conjunction is satisfiable exactly when every
// group is.

enum Satisfiability {
    /// Why `condition` can never hold, or nil when some request could match it.
    static func contradiction(in condition: Condition) -> String? {
        var literals: [(attribute: Attribute, matcher: Matcher, source: String)] = []
        if let reason = collect(condition, into: &literals) { return reason }
        var order: [Attribute] = []
        var groups: [Attribute: [(Matcher, String)]] = [:]
        for literal in literals {
            if groups[literal.attribute] == nil { order.append(literal.attribute) }
            groups[literal.attribute, default: []].append((literal.matcher, literal.source))
        }
        for attribute in order {
            let group = groups[attribute] ?? []
            let matchers = group.map(\.0)
            if !candidates(for: attribute, matchers).contains(where: { candidate in
                matchers.allSatisfy { verdict($0, candidate) != false }
            }) {
                let sources = group.map { "'\($0.1)'" }.joined(separator: " and ")
                return group.count == 1 ? "\(sources) matches no value" : "\(sources) cannot all hold"
            }
        }
        return nil
    }

    /// Flattens the top-level conjunction; an `any-of` whose every branch is contradictory is reported.
    private static func collect(
        _ condition: Condition, into literals: inout [(attribute: Attribute, matcher: Matcher, source: String)]
    ) -> String? {
        switch condition {
        case .all(let children):
            for child in children {
                if let reason = collect(child, into: &literals) { return reason }
            }
        case .any(let children):
            let reasons = children.compactMap { contradiction(in: $0) }
            if !children.isEmpty && reasons.count == children.count {
                return "no branch of any-of can match (" + reasons.joined(separator: "; ") + ")"
            }
        case .not(.test(let test)):
            literals.append((test.attribute, .not(test.matcher), "not \(test.source)"))
        case .not:
            break  // a negated group: not analysed
        case .test(let test):
            literals.append((test.attribute, test.matcher, test.source))
        }
        return nil
    }

    // MARK: Candidates

    private enum Candidate {
        case string(String?)
        case set([String])
        case bool(Bool?)
        case int(Int?)
        case unknown
    }

    private static let fresh = "\u{0}unmentioned"

    private static func candidates(for attribute: Attribute, _ matchers: [Matcher]) -> [Candidate] {
        var mentioned: [String] = []
        var bounds: [Int] = []
        for matcher in matchers { mention(matcher, strings: &mentioned, bounds: &bounds) }
        let canBeAbsent = !alwaysPresent.contains(attribute)
        switch attribute.type {
        case .string:
            var values: [String?] = attribute.allowedValues ?? (mentioned + [fresh])
            if canBeAbsent { values.append(nil) }
            return values.map { .string($0) }
        case .stringSet:
            return setCandidates(mentioned: Array(Set(mentioned)).sorted(), bounds: bounds)
        case .bool:
            return canBeAbsent ? [.bool(true), .bool(false), .bool(nil)] : [.bool(true), .bool(false)]
        case .presence:
            return [.bool(true), .bool(false)]
        case .int:
            return (0...23).map { .int($0) }
        case .address:
            return [.unknown]
        }
    }

    private static let alwaysPresent: Set<Attribute> = [
        .clientID, .tokenIssuer, .requestKind, .requestMethod, .timeWeekday, .timeHour, .clientRegistered,
        .pdmpRequest,
    ]

    private static func setCandidates(mentioned: [String], bounds: [Int]) -> [Candidate] {
        guard mentioned.count <= 10 else { return [.unknown] }
        var sizes: Set<Int> = [0, 1, 2]
        for bound in bounds where bound < 1000 {
            sizes.formUnion([bound - 1, bound, bound + 1].filter { $0 >= 0 })
        }
        var result: [Candidate] = []
        for mask in 0..<(1 << mentioned.count) {
            let subset = mentioned.indices.filter { mask & (1 << $0) != 0 }.map { mentioned[$0] }
            for size in sizes where size >= subset.count {
                let padding = (0..<(size - subset.count)).map { "\(fresh)\($0)" }
                result.append(.set(subset + padding))
            }
        }
        return result
    }

    private static func mention(_ matcher: Matcher, strings: inout [String], bounds: inout [Int]) {
        switch matcher {
        case .equalsString(let value), .contains(let value): strings.append(value)
        case .inStrings(let values), .intersects(let values): strings += values
        case .count(let min, let max): bounds += [min, max]
        case .not(let inner): mention(inner, strings: &strings, bounds: &bounds)
        case .all(let inner), .any(let inner):
            for matcher in inner { mention(matcher, strings: &strings, bounds: &bounds) }
        default: break
        }
    }

    // MARK: Three-valued matching (mirrors Matcher.matches; nil means "depends on another attribute")

    private static func verdict(_ matcher: Matcher, _ candidate: Candidate) -> Bool? {
        switch matcher {
        case .not(let inner):
            return verdict(inner, candidate).map { !$0 }
        case .all(let inner):
            let results = inner.map { verdict($0, candidate) }
            if results.contains(false) { return false }
            return results.contains(nil) ? nil : true
        case .any(let inner):
            let results = inner.map { verdict($0, candidate) }
            if results.contains(true) { return true }
            return results.contains(nil) ? nil : false
        default:
            break
        }
        switch candidate {
        case .unknown: return nil
        case .string(let value): return stringVerdict(matcher, value)
        case .set(let values): return setVerdict(matcher, values)
        case .bool(let value): return boolVerdict(matcher, value)
        case .int(let value): return intVerdict(matcher, value)
        }
    }

    private static func stringVerdict(_ matcher: Matcher, _ value: String?) -> Bool? {
        if case .exists(let expected) = matcher { return (value != nil) == expected }
        guard let value else { return false }
        switch matcher {
        case .equalsString(let expected): return value == expected
        case .inStrings(let options): return options.contains(value)
        case .inAttribute: return nil
        default: return false
        }
    }

    private static func setVerdict(_ matcher: Matcher, _ values: [String]) -> Bool? {
        switch matcher {
        case .exists(let expected): return !values.isEmpty == expected
        case .contains(let value): return values.contains(value)
        case .intersects(let options): return options.contains { values.contains($0) }
        case .count(let min, let max): return values.count >= min && values.count <= max
        case .inAttribute: return values.isEmpty ? false : nil
        default: return false
        }
    }

    private static func boolVerdict(_ matcher: Matcher, _ value: Bool?) -> Bool? {
        switch matcher {
        case .exists(let expected): return (value ?? false) == expected
        case .equalsBool(let expected): return value == expected
        default: return false
        }
    }

    private static func intVerdict(_ matcher: Matcher, _ value: Int?) -> Bool? {
        if case .exists(let expected) = matcher { return (value != nil) == expected }
        guard let value else { return false }
        switch matcher {
        case .intRange(let min, let max): return value >= min && value <= max
        case .inInts(let options): return options.contains(value)
        default: return false
        }
    }
}
