// Policy files (YAML) to compiled rules. Every problem is collected with its file, line and column, so
// `pdmp-gateway check` can list all of them at once; a file with any error contributes no rules, and a
// set with any error is not used at all (ARCHITECTURE §3: fail closed).
import FHIR
import GatewayYAML

/// A rule ready for evaluation. A class, so that walking the rule list retains one reference per rule
/// instead of copying every field.
final class CompiledRule: Sendable {
    /// `file:rule`.
    let id: String
    let name: String
    let file: String
    let effect: PolicyEffect
    let mode: PolicyMode
    let condition: Condition
    let reason: String?
    let obligations: [Obligation]
    let description: String?
    let mark: YAMLMark

    init(
        id: String, name: String, file: String, effect: PolicyEffect, mode: PolicyMode, condition: Condition,
        reason: String?, obligations: [Obligation], description: String?, mark: YAMLMark
    ) {
        self.id = id
        self.name = name
        self.file = file
        self.effect = effect
        self.mode = mode
        self.condition = condition
        self.reason = reason
        self.obligations = obligations
        self.description = description
        self.mark = mark
    }
}

/// Compiles policy documents, collecting errors.
struct PolicyCompiler {
    private(set) var rules: [CompiledRule] = []
    private(set) var errors: [YAMLDecodingError] = []
    private var ruleNames: [String: YAMLMark] = [:]

    static let fileKeys = ["description", "mode", "rules"]
    static let ruleKeys = ["name", "description", "effect", "when", "reason", "obligations", "mode"]
    static let conditionKeywords = ["all-of", "any-of", "not"]
    static let matcherKeywords = [
        "equals", "in", "contains", "not", "exists", "cidr", "cidr_attribute", "in_attribute", "count", "min",
        "max", "any-of", "all-of",
    ]

    /// Compiles one parsed file. `file` is the file's base name without extension (the rule id prefix).
    mutating func compile(file: String, root: YAMLNode) {
        var fileErrors: [YAMLDecodingError] = []
        let fileRules = compileFile(file: file, root: root, errors: &fileErrors)
        errors += fileErrors
        if fileErrors.isEmpty { rules += fileRules }
    }

    /// Records a load problem that is not tied to a node (e.g. an unreadable file).
    mutating func record(_ error: YAMLDecodingError) {
        errors.append(error)
    }

    private mutating func compileFile(
        file: String, root: YAMLNode, errors: inout [YAMLDecodingError]
    ) -> [CompiledRule] {
        guard root.mappingEntries != nil else {
            errors.append(root.isNull
                ? YAMLDecodingError(at: root, "empty policy file (a policy file must define at least one rule)")
                : root.mismatch("a mapping with a 'rules' list"))
            return []
        }
        errors += root.unknownKeys(allowed: Self.fileKeys)
        let fileMode = capture(&errors) { () throws(YAMLDecodingError) in try Self.mode(root.optional("mode")) }
        guard let list = capture(&errors, { () throws(YAMLDecodingError) in try root.required("rules").sequence() })
        else { return [] }
        if list.isEmpty {
            errors.append(YAMLDecodingError(at: root["rules"] ?? root, "a policy file must define at least one rule"))
        }
        var result: [CompiledRule] = []
        for node in list {
            if let rule = compileRule(node, file: file, fileMode: (fileMode ?? nil) ?? .enforce, errors: &errors) {
                result.append(rule)
            }
        }
        return result
    }

    // MARK: Rules

    private mutating func compileRule(
        _ node: YAMLNode, file: String, fileMode: PolicyMode, errors: inout [YAMLDecodingError]
    ) -> CompiledRule? {
        guard node.mappingEntries != nil else {
            errors.append(node.mismatch("a rule (a mapping with name, effect and when)"))
            return nil
        }
        let before = errors.count
        errors += node.unknownKeys(allowed: Self.ruleKeys)
        let name = capture(&errors) { () throws(YAMLDecodingError) in try Self.ruleName(node) }
        let effect = capture(&errors) { () throws(YAMLDecodingError) in try Self.effect(node) }
        let mode = capture(&errors) { () throws(YAMLDecodingError) in try Self.mode(node.optional("mode")) }
        let reason = capture(&errors) { () throws(YAMLDecodingError) in try node.optionalString(at: "reason") }
        let summary = capture(&errors) { () throws(YAMLDecodingError) in try node.optionalString(at: "description") }
        let whenNode = capture(&errors) { () throws(YAMLDecodingError) in try node.required("when") }
        let condition = whenNode.flatMap { compileCondition($0, errors: &errors) }
        let obligations = compileObligations(node, ruleID: "\(file):\(name ?? "")", effect: effect, errors: &errors)
        if let name {
            if let first = ruleNames[name] {
                errors.append(YAMLDecodingError(
                    at: node["name"] ?? node, "duplicate rule name '\(name)' (first at \(first))"))
            } else {
                ruleNames[name] = (node["name"] ?? node).mark
            }
        }
        guard errors.count == before, let name, let effect, let condition, let whenNode else { return nil }
        if let contradiction = Satisfiability.contradiction(in: condition) {
            errors.append(YAMLDecodingError(at: whenNode, "rule '\(name)' can never match: \(contradiction)"))
            return nil
        }
        return CompiledRule(
            id: "\(file):\(name)", name: name, file: file, effect: effect, mode: (mode ?? nil) ?? fileMode,
            condition: condition, reason: reason ?? nil, obligations: obligations,
            description: summary ?? nil, mark: node.mark)
    }

    private static func ruleName(_ node: YAMLNode) throws(YAMLDecodingError) -> String {
        let nameNode = try node.required("name")
        let name = try nameNode.string()
        let valid = name.utf8.allSatisfy { byte in
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
        }
        guard valid, let first = name.utf8.first, first != UInt8(ascii: "-"), first != UInt8(ascii: ".") else {
            throw YAMLDecodingError(at: nameNode, "rule names use letters, digits, '-', '_' and '.' only")
        }
        return name
    }

    private static func effect(_ node: YAMLNode) throws(YAMLDecodingError) -> PolicyEffect {
        let effectNode = try node.required("effect")
        guard let effect = PolicyEffect(rawValue: try effectNode.string()) else {
            throw YAMLDecodingError(at: effectNode, "effect must be permit or forbid")
        }
        return effect
    }

    private static func mode(_ node: YAMLNode?) throws(YAMLDecodingError) -> PolicyMode? {
        guard let node else { return nil }
        guard let mode = PolicyMode(rawValue: try node.string()) else {
            throw YAMLDecodingError(at: node, "mode must be enforce or shadow")
        }
        return mode
    }

    // MARK: Conditions

    /// A `when` mapping: every entry must hold. Entries are attribute tests or `all-of`/`any-of`/`not`.
    private func compileCondition(_ node: YAMLNode, errors: inout [YAMLDecodingError]) -> Condition? {
        guard let entries = node.mappingEntries else {
            errors.append(node.mismatch("a mapping of conditions"))
            return nil
        }
        let before = errors.count
        var parts: [Condition] = []
        for entry in entries {
            let key = entry.key.scalarText ?? ""
            if let part = compileEntry(key: key, keyNode: entry.key, value: entry.value, errors: &errors) {
                parts.append(part)
            }
        }
        guard errors.count == before else { return nil }
        return parts.count == 1 ? parts[0] : .all(parts)
    }

    private func compileEntry(
        key: String, keyNode: YAMLNode, value: YAMLNode, errors: inout [YAMLDecodingError]
    ) -> Condition? {
        switch key {
        case "all-of", "any-of":
            guard let items = value.sequenceItems, !items.isEmpty else {
                errors.append(value.mismatch("a non-empty list of conditions"))
                return nil
            }
            let children = items.compactMap { compileCondition($0, errors: &errors) }
            guard children.count == items.count else { return nil }
            return key == "all-of" ? .all(children) : .any(children)
        case "not":
            return compileCondition(value, errors: &errors).map { .not($0) }
        default:
            guard let attribute = Attribute(rawValue: key) else {
                errors.append(YAMLDecodingError(at: keyNode, Self.unknownAttributeMessage(key)))
                return nil
            }
            var compiler = MatcherCompiler(attribute: attribute)
            guard let matcher = compiler.compile(value) else {
                errors += compiler.errors
                return nil
            }
            let test = AttributeTest(
                attribute: attribute, matcher: matcher, source: "\(key): \(FlowText.render(value))", mark: keyNode.mark)
            return .test(test)
        }
    }

    static func unknownAttributeMessage(_ key: String) -> String {
        let prefix = key.split(separator: ".").first.map(String.init) ?? key
        let related = Attribute.allCases.map(\.rawValue).filter { $0.hasPrefix(prefix + ".") }
        let hint = related.isEmpty
            ? "attributes start with client., token., request., pdmp., network. or time.; conditions can also be "
                + "all-of, any-of or not"
            : "known \(prefix) attributes: " + related.joined(separator: ", ")
        return "unknown attribute '\(key)' (\(hint))"
    }

    // MARK: Obligations

    private func compileObligations(
        _ node: YAMLNode, ruleID: String, effect: PolicyEffect?, errors: inout [YAMLDecodingError]
    ) -> [Obligation] {
        guard let listNode = node["obligations"], !listNode.isNull else { return [] }
        guard let items = listNode.sequenceItems else {
            errors.append(listNode.mismatch("a list of obligations"))
            return []
        }
        var result: [Obligation] = []
        for item in items {
            guard let obligation = capture(&errors, { () throws(YAMLDecodingError) in
                try ObligationCompiler.compile(item, ruleID: ruleID)
            }) else { continue }
            // Only the audit level means something when the request is refused.
            if effect == .forbid, obligation.name != "audit_detail" {
                let problem = "obligation \(obligation.name) has no effect on a forbid rule"
                errors.append(YAMLDecodingError(at: item, problem))
                continue
            }
            if result.contains(where: { $0.name == obligation.name && obligation.name != "rate_limit" }) {
                errors.append(YAMLDecodingError(at: item, "obligation \(obligation.name) is listed twice"))
                continue
            }
            result.append(obligation)
        }
        return result
    }

    private func capture<T>(
        _ errors: inout [YAMLDecodingError], _ body: () throws(YAMLDecodingError) -> T
    ) -> T? {
        do {
            return try body()
        } catch {
            errors.append(error)
            return nil
        }
    }
}

/// Obligation entries: `check_response_compartment`, `narrow_search_to_patient`,
/// `audit_detail: minimal|full`, `rate_limit: {bucket:, limit:, per:, name:}`.
enum ObligationCompiler {
    static let names = ["check_response_compartment", "narrow_search_to_patient", "audit_detail", "rate_limit"]

    static func compile(_ node: YAMLNode, ruleID: String) throws(YAMLDecodingError) -> Obligation {
        if node.scalarText != nil {
            switch try node.string() {
            case "check_response_compartment": return .checkResponseCompartment
            case "narrow_search_to_patient": return .narrowSearchToPatient
            case "audit_detail", "rate_limit":
                throw YAMLDecodingError(at: node, "obligation \(try node.string()) needs a value (name: value)")
            default: throw unknown(node, try node.string())
            }
        }
        guard let entries = node.mappingEntries, entries.count == 1, let entry = entries.first else {
            throw node.mismatch("an obligation (a name, or one name: value pair)")
        }
        let name = entry.key.scalarText ?? ""
        switch name {
        case "audit_detail":
            guard let level = AuditDetail(rawValue: try entry.value.string()) else {
                throw YAMLDecodingError(at: entry.value, "audit_detail must be minimal or full")
            }
            return .auditDetail(level)
        case "rate_limit":
            return .rateLimit(try rateLimit(entry.value, ruleID: ruleID))
        case "check_response_compartment", "narrow_search_to_patient":
            guard try entry.value.bool() else {
                throw YAMLDecodingError(at: entry.value, "leave the obligation out instead of setting it to false")
            }
            return name == "check_response_compartment" ? .checkResponseCompartment : .narrowSearchToPatient
        default:
            throw unknown(entry.key, name)
        }
    }

    private static func rateLimit(_ node: YAMLNode, ruleID: String) throws(YAMLDecodingError) -> RateLimit {
        try node.expectKeys(["name", "bucket", "limit", "per"])
        let bucketNode = try node.required("bucket")
        guard let bucket = RateLimit.Bucket(rawValue: try bucketNode.string()) else {
            let options = RateLimit.Bucket.allCases.map(\.rawValue).joined(separator: ", ")
            throw YAMLDecodingError(at: bucketNode, "bucket must be one of: \(options)")
        }
        let limitNode = try node.required("limit")
        let limit = try limitNode.int()
        guard limit > 0 else { throw YAMLDecodingError(at: limitNode, "limit must be a positive integer") }
        let periodNode = try node.required("per")
        guard let period = RateLimit.Period(rawValue: try periodNode.string()) else {
            throw YAMLDecodingError(at: periodNode, "per must be one of: second, minute, hour, day")
        }
        let name = try node.optionalString(at: "name") ?? ruleID
        return RateLimit(name: name, bucket: bucket, limit: limit, period: period)
    }

    private static func unknown(_ node: YAMLNode, _ name: String) -> YAMLDecodingError {
        YAMLDecodingError(at: node, "unknown obligation '\(name)' (expected one of: \(names.joined(separator: ", ")))")
    }
}

/// Compact one-line rendering of a YAML value, for explanations.
enum FlowText {
    static func render(_ node: YAMLNode) -> String {
        switch node.value {
        case .scalar(let text, let style):
            return style == .plain && node.tag == nil ? text : YAMLEmitter.emit(.string(text)).dropLast().description
        case .sequence(let items):
            return "[" + items.map(render).joined(separator: ", ") + "]"
        case .mapping(let entries):
            return "{" + entries.map { "\(render($0.key)): \(render($0.value))" }.joined(separator: ", ") + "}"
        }
    }
}
