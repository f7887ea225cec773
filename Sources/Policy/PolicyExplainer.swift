// `pdmp-gateway policy explain`: for one request, every rule with each condition's result and the value
// it was tested against, then the decision. Explanations evaluate every condition (no short-circuit) but
// combine results exactly as the evaluator does, and end with the evaluator's own decision.
import FHIR
import SMART

/// Human-readable explanations of policy decisions.
public enum PolicyExplainer {
    /// Which rules matched, which conditions failed and why, and the final decision, for `input`.
    public static func explain(_ input: PolicyInput, policies: PolicySet) -> String {
        var facts = LazyFacts(zone: policies.zone)
        var lines = [describeRequest(input)]
        for rule in policies.rules {
            var body: [String] = []
            let matched = explain(rule.condition, input, &facts, depth: 1, into: &body)
            let mode = rule.mode == .shadow ? ", shadow" : ""
            lines.append("rule \(rule.id) (\(rule.effect.rawValue)\(mode)): \(matched ? "MATCHED" : "not matched")")
            lines += body
        }
        lines += describeDecision(policies.evaluate(input))
        return lines.joined(separator: "\n") + "\n"
    }

    private static func describeRequest(_ input: PolicyInput) -> String {
        let interaction = input.interaction
        var what = "\(interaction.method) \(interaction.kind.rawValue)"
        if let type = interaction.resourceType { what += " \(type)" }
        if let id = interaction.id { what += "/\(id)" }
        if let operation = interaction.operation { what += " $\(operation)" }
        let client = input.principal.client.map { " (\($0.kind.rawValue); roles: \($0.roles.joined(separator: ", ")))" }
            ?? " (not registered)"
        return "request: \(what); client \(input.principal.clientID)\(client); patients named: "
            + "\(interaction.patients.count); address \(input.clientAddress)"
    }

    private static func describeDecision(_ decision: PolicyDecision) -> [String] {
        var lines: [String] = []
        let verdict = decision.allowed ? "ALLOW" : "DENY"
        let by = decision.decidingRule.map { "by \($0)" } ?? "by default (no rule permits)"
        lines.append("decision: \(verdict) \(by)")
        if let reason = decision.reason { lines.append("reason: \(reason)") }
        if !decision.obligations.isEmpty {
            lines.append("obligations: " + decision.obligations.map(describe).joined(separator: ", "))
        }
        if let shadow = decision.shadowDecision {
            let rules = decision.shadow.map(\.rule).joined(separator: ", ")
            lines.append("shadow: would \(shadow ? "ALLOW" : "DENY") (shadow rules matched: \(rules))")
        }
        return lines
    }

    static func describe(_ obligation: Obligation) -> String {
        switch obligation {
        case .checkResponseCompartment, .narrowSearchToPatient: obligation.name
        case .auditDetail(let level): "audit_detail: \(level.rawValue)"
        case .rateLimit(let limit):
            "rate_limit: \(limit.limit)/\(limit.period.rawValue) \(limit.bucket.rawValue) (\(limit.name))"
        }
    }

    // MARK: Conditions

    private static func explain(
        _ condition: Condition, _ input: PolicyInput, _ facts: inout LazyFacts, depth: Int, into lines: inout [String]
    ) -> Bool {
        let pad = String(repeating: "  ", count: depth)
        switch condition {
        case .all(let children), .any(let children):
            let isAll: Bool
            if case .all = condition { isAll = true } else { isAll = false }
            if children.isEmpty {
                lines.append("\(pad)yes  (no conditions: always matches)")
                return true
            }
            // The top-level `when` mapping is an implicit all-of: list its entries without a header.
            let nested = depth > 1 || !isAll
            var childLines: [String] = []
            let results = children.map {
                explain($0, input, &facts, depth: nested ? depth + 1 : depth, into: &childLines)
            }
            let result = isAll ? !results.contains(false) : results.contains(true)
            if nested { lines.append("\(pad)\(mark(result))  \(isAll ? "all-of" : "any-of"):") }
            lines += childLines
            return result
        case .not(let child):
            var childLines: [String] = []
            let result = !explain(child, input, &facts, depth: depth + 1, into: &childLines)
            lines.append("\(pad)\(mark(result))  not:")
            lines += childLines
            return result
        case .test(let test):
            let result = test.matcher.matches(test.attribute, input, &facts)
            lines.append("\(pad)\(mark(result))  \(test.source)   [\(valueText(test, input, &facts))]")
            return result
        }
    }

    private static func mark(_ result: Bool) -> String { result ? "yes" : "NO " }

    /// The tested value (and any attribute it is compared with), for the explanation.
    private static func valueText(_ test: AttributeTest, _ input: PolicyInput, _ facts: inout LazyFacts) -> String {
        var text = "\(test.attribute.rawValue) = \(value(test.attribute, input, &facts))"
        for other in referencedAttributes(test.matcher) {
            text += "; \(other.rawValue) = \(value(other, input, &facts))"
        }
        return text
    }

    private static func referencedAttributes(_ matcher: Matcher) -> [Attribute] {
        switch matcher {
        case .inAttribute(let other), .cidrAttribute(let other): [other]
        case .not(let inner): referencedAttributes(inner)
        case .all(let inner), .any(let inner): inner.flatMap(referencedAttributes)
        default: []
        }
    }

    private static func value(_ attribute: Attribute, _ input: PolicyInput, _ facts: inout LazyFacts) -> String {
        switch attribute.type {
        case .string: return attribute.string(input, &facts) ?? "(absent)"
        case .stringSet: return "[" + attribute.set(input, &facts).elements.joined(separator: ", ") + "]"
        case .bool, .presence: return attribute.bool(input, &facts).map { String($0) } ?? "(absent)"
        case .int: return attribute.int(input, &facts).map { String($0) } ?? "(absent)"
        case .address: return facts.clientAddress(input).map(\.description) ?? "(unparsable: \(input.clientAddress))"
        }
    }
}
