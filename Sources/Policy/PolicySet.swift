// A loaded, immutable policy set and its evaluator (ARCHITECTURE §5). Evaluation order:
//   1. (before this) SMART scopes must permit the interaction: the gateway checks them first;
//   2. any matching enforced `forbid` denies;
//   3. otherwise any matching enforced `permit` allows;
//   4. otherwise deny (nothing permitted it).
// Shadow rules are evaluated alongside and reported in `shadow`/`shadowDecision`, never enforced.
// An empty, missing or broken policy directory is a load error, never "allow everything" (POL-01).
public import Foundation
public import GatewayCore
public import GatewayYAML
import FHIR

/// Why a policy set could not be loaded: every problem found, each with file, line and column.
public struct PolicyLoadError: Error, Sendable, CustomStringConvertible {
    public var errors: [YAMLDecodingError]

    public init(_ errors: [YAMLDecodingError]) {
        self.errors = errors
    }

    /// One problem a line.
    public var description: String { errors.map(\.description).joined(separator: "\n") }
}

/// A policy file's text, for loading from memory (tests, reload previews).
public struct PolicySource: Sendable {
    /// The file name, e.g. `pdmp-history.yaml`; its base name prefixes the rule ids.
    public var fileName: String
    public var text: String

    public init(fileName: String, text: String) {
        self.fileName = fileName
        self.text = text
    }
}

/// Options fixed for a whole policy set.
public struct PolicyOptions: Sendable {
    /// The zone in which `time.hour` and `time.weekday` are computed.
    public var timeZone: TimeZone

    public init(timeZone: TimeZone = TimeZone(identifier: "UTC")!) {
        self.timeZone = timeZone
    }
}

/// A compiled, immutable set of policy rules. Safe to share between event loops.
public final class PolicySet: Sendable {
    /// Every rule, in file-name order then document order.
    let rules: [CompiledRule]
    private let enforced: [CompiledRule]
    private let shadowRules: [CompiledRule]
    /// Enforced rules' conditions, then shadow rules', flattened for evaluation.
    private let program: FlatTables
    /// Per rule (same order as `program.roots`): a quick test that skips rules which cannot match.
    private let prefilters: [RulePrefilter]
    let options: PolicyOptions
    /// The configured zone's UTC offsets, precomputed.
    let zone: ZoneOffsets
    /// The policy files that were loaded (base names without extension).
    public let files: [String]

    init(rules: [CompiledRule], files: [String], options: PolicyOptions) {
        self.rules = rules
        self.enforced = rules.filter { $0.mode == .enforce }
        self.shadowRules = rules.filter { $0.mode == .shadow }
        self.program = FlatTables(FlatProgram(conditions: (enforced + shadowRules).map(\.condition)))
        self.prefilters = (enforced + shadowRules).map { RulePrefilter($0.condition) }
        self.files = files
        self.options = options
        self.zone = ZoneOffsets(options.timeZone)
    }

    /// The ids (`file:rule`) of every rule.
    public var ruleIDs: [String] { rules.map(\.id) }

    /// The ids of rules in shadow mode.
    public var shadowRuleIDs: [String] { shadowRules.map(\.id) }

    // MARK: Loading

    /// Loads every `*.yaml` / `*.yml` file directly in `directory` (not `tests/`), in file-name order.
    /// Throws every problem found; a missing or empty directory is an error.
    public static func load(
        directory: String, options: PolicyOptions = PolicyOptions()
    ) throws(PolicyLoadError) -> PolicySet {
        let place = YAMLMark(file: directory, line: 0, column: 0)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue,
              let names = try? FileManager.default.contentsOfDirectory(atPath: directory)
        else {
            throw PolicyLoadError([YAMLDecodingError(mark: place, path: "", problem: "policy directory not found")])
        }
        let policyFiles = names.filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
        var sources: [PolicySource] = []
        var errors: [YAMLDecodingError] = []
        for name in policyFiles {
            let path = (directory as NSString).appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: path) else {
                errors.append(YAMLDecodingError(mark: YAMLMark(file: path, line: 0, column: 0), path: "",
                                                problem: "cannot read policy file"))
                continue
            }
            sources.append(PolicySource(fileName: path, text: String(decoding: data, as: UTF8.self)))
        }
        if policyFiles.isEmpty {
            errors.append(YAMLDecodingError(mark: place, path: "", problem: "no policy files (*.yaml) in directory"))
        }
        return try compile(sources: sources, options: options, earlierErrors: errors)
    }

    /// Compiles policy texts. Throws every problem found; no sources, or no rules, is an error.
    public static func compile(
        sources: [PolicySource], options: PolicyOptions = PolicyOptions()
    ) throws(PolicyLoadError) -> PolicySet {
        try compile(sources: sources, options: options, earlierErrors: [])
    }

    private static func compile(
        sources: [PolicySource], options: PolicyOptions, earlierErrors: [YAMLDecodingError]
    ) throws(PolicyLoadError) -> PolicySet {
        var compiler = PolicyCompiler()
        earlierErrors.forEach { compiler.record($0) }
        var files: [String] = []
        var seenFiles: Set<String> = []
        for source in sources {
            let base = baseName(source.fileName)
            files.append(base)
            if !seenFiles.insert(base).inserted {
                compiler.record(YAMLDecodingError(mark: YAMLMark(file: source.fileName, line: 0, column: 0),
                                                  path: "", problem: "two policy files named '\(base)'"))
                continue
            }
            do {
                let root = try YAMLParser.parse(source.text, file: source.fileName)
                compiler.compile(file: base, root: root)
            } catch {
                compiler.record(error)
            }
        }
        if sources.isEmpty && earlierErrors.isEmpty {
            compiler.record(YAMLDecodingError(mark: YAMLMark(file: "<policies>", line: 0, column: 0), path: "",
                                              problem: "no policy files"))
        }
        guard compiler.errors.isEmpty else { throw PolicyLoadError(compiler.errors) }
        return PolicySet(rules: compiler.rules, files: files, options: options)
    }

    private static func baseName(_ path: String) -> String {
        let last = path.split(separator: "/").last.map(String.init) ?? path
        for suffix in [".yaml", ".yml"] where last.hasSuffix(suffix) { return String(last.dropLast(suffix.count)) }
        return last
    }

    // MARK: Evaluation

    /// Decides one request. Call only after the SMART scopes have permitted the interaction.
    public func evaluate(_ input: PolicyInput) -> PolicyDecision {
        var facts = LazyFacts(zone: zone)
        let evaluator = program.evaluator
        let roots = program.roots
        let kind = RulePrefilter.bit(input.interaction.kind)
        facts.loadPDMP(input)
        let isPDMP = facts.isPDMP
        var matched: [String] = []
        var firstForbid = -1
        var firstPermit = -1
        var permits = 0
        var forbids = 0
        for index in enforced.indices
        where prefilters[index].admits(kind, isPDMP) && evaluator.condition(roots[index], input, &facts) {
            let rule = enforced[index]
            matched.append(rule.id)
            if rule.effect == .forbid {
                if firstForbid < 0 { firstForbid = index }
                forbids += 1
            } else {
                if firstPermit < 0 { firstPermit = index }
                permits += 1
            }
        }
        let shadow = shadowRules.isEmpty ? [] : shadowOutcomes(input, kind, isPDMP, evaluator, &facts)
        let wouldAllow = firstForbid < 0 && (firstPermit >= 0 || shadow.contains { $0.effect == .permit })
        let shadowDecision: Bool? = shadow.isEmpty ? nil : !shadow.contains { $0.effect == .forbid } && wouldAllow
        if firstForbid >= 0 {
            let rule = enforced[firstForbid]
            return PolicyDecision(
                allowed: false, matchedRules: matched, decidingRule: rule.id,
                reason: rule.reason ?? PolicyDecision.defaultDenialReason,
                obligations: obligations(.forbid, count: forbids, first: firstForbid, input, evaluator, &facts),
                shadow: shadow, shadowDecision: shadowDecision)
        }
        if firstPermit >= 0 {
            let rule = enforced[firstPermit]
            return PolicyDecision(
                allowed: true, matchedRules: matched, decidingRule: rule.id, reason: rule.reason,
                obligations: obligations(.permit, count: permits, first: firstPermit, input, evaluator, &facts),
                shadow: shadow, shadowDecision: shadowDecision)
        }
        return PolicyDecision(
            allowed: false, matchedRules: matched, decidingRule: nil, reason: PolicyDecision.defaultDenialReason,
            obligations: [], shadow: shadow, shadowDecision: shadowDecision)
    }

    /// The obligations of the matching enforced rules with `effect`. With one matching rule its precomputed
    /// list is returned as is (no allocation); otherwise the lists are merged without duplicates.
    private func obligations(
        _ effect: PolicyEffect, count: Int, first: Int, _ input: PolicyInput, _ evaluator: FlatEvaluator,
        _ facts: inout LazyFacts
    ) -> [Obligation] {
        if count == 1 { return enforced[first].obligations }
        var merged: [Obligation] = []
        for index in first..<enforced.count where enforced[index].effect == effect {
            let rule = enforced[index]
            guard !rule.obligations.isEmpty, evaluator.condition(program.roots[index], input, &facts) else { continue }
            for obligation in rule.obligations where !merged.contains(obligation) { merged.append(obligation) }
        }
        // Two audit levels: the fuller one wins.
        if merged.contains(.auditDetail(.full)) { merged.removeAll { $0 == .auditDetail(.minimal) } }
        return merged
    }

    private func shadowOutcomes(
        _ input: PolicyInput, _ kind: UInt32, _ isPDMP: Bool, _ evaluator: FlatEvaluator, _ facts: inout LazyFacts
    ) -> [ShadowOutcome] {
        var outcomes: [ShadowOutcome] = []
        let offset = enforced.count
        for index in shadowRules.indices
        where prefilters[offset + index].admits(kind, isPDMP)
            && evaluator.condition(program.roots[offset + index], input, &facts) {
            let rule = shadowRules[index]
            outcomes.append(ShadowOutcome(rule: rule.id, effect: rule.effect, reason: rule.reason))
        }
        return outcomes
    }

    /// The reference evaluation of one rule by walking its condition tree (tests compare it with the
    /// flattened program).
    func treeMatches(_ rule: CompiledRule, _ input: PolicyInput) -> Bool {
        var facts = LazyFacts(zone: zone)
        return rule.condition.matches(input, &facts)
    }
}

/// What a rule's top-level conditions say about the interaction kind and `pdmp.request`, checked before
/// the rule is evaluated. Sound by construction: it only reads positive top-level tests, so a rule it
/// skips could not have matched.
struct RulePrefilter: Sendable {
    /// Bit i set: the rule can match interaction kind number i.
    var kinds: UInt32 = .max
    var requiresPDMP = false

    init(_ condition: Condition) {
        var conjuncts = [condition]
        while let next = conjuncts.popLast() {
            switch next {
            case .all(let children): conjuncts += children
            case .test(let test): restrict(test)
            default: break
            }
        }
    }

    private mutating func restrict(_ test: AttributeTest) {
        switch (test.attribute, test.matcher) {
        case (.requestKind, .equalsString(let value)): kinds &= Self.bits([value])
        case (.requestKind, .inStrings(let values)): kinds &= Self.bits(values)
        case (.pdmpRequest, .equalsBool(true)), (.pdmpRequest, .exists(true)): requiresPDMP = true
        case (let attribute, let matcher) where attribute != .pdmpRequest && attribute.rawValue.hasPrefix("pdmp."):
            // Every other pdmp.* attribute is absent (or empty) without a PDMP request, and these matchers
            // fail on an absent value (Matcher.matches).
            switch matcher {
            case .equalsString, .inStrings, .inAttribute, .contains, .intersects, .equalsBool, .exists(true):
                requiresPDMP = true
            default:
                break
            }
        default: break
        }
    }

    func admits(_ kind: UInt32, _ isPDMP: Bool) -> Bool {
        kinds & kind != 0 && (isPDMP || !requiresPDMP)
    }

    private static let allKinds = InteractionKind.allCases

    private static func bits(_ values: [String]) -> UInt32 {
        var mask: UInt32 = 0
        for value in values {
            if let index = allKinds.firstIndex(where: { $0.rawValue == value }) { mask |= 1 << UInt32(index) }
        }
        return mask
    }

    /// The bit of `kind` (position in `InteractionKind.allCases`).
    static func bit(_ kind: InteractionKind) -> UInt32 {
        let index: UInt32
        switch kind {
        case .read: index = 0
        case .vread: index = 1
        case .update: index = 2
        case .patch: index = 3
        case .delete: index = 4
        case .create: index = 5
        case .conditionalUpdate: index = 6
        case .conditionalDelete: index = 7
        case .conditionalPatch: index = 8
        case .historyInstance: index = 9
        case .historyType: index = 10
        case .historySystem: index = 11
        case .searchType: index = 12
        case .searchSystem: index = 13
        case .searchCompartment: index = 14
        case .capabilities: index = 15
        case .batch: index = 16
        case .transaction: index = 17
        case .operation: index = 18
        }
        return 1 << index
    }
}

/// A policy denial as a client-visible error: 403 with the deciding rule's reason (ARCHITECTURE §1 step 3).
public struct PolicyDenial: HTTPResponseError, CustomStringConvertible {
    public var decision: PolicyDecision

    public init(_ decision: PolicyDecision) {
        self.decision = decision
    }

    public var status: Int { 403 }
    public var issueType: IssueType { .forbidden }
    public var publicMessage: String { decision.reason ?? PolicyDecision.defaultDenialReason }
    // No `WWW-Authenticate: Bearer error="insufficient_scope"` here: that tells a client to ask for more
    // scopes (RFC 6750 §3.1), and no scope lifts a policy refusal. Scope refusals carry it (ScopeError).
    public var description: String { "policy denied (\(decision.decidingRule ?? "default")): \(publicMessage)" }
}
