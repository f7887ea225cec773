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
    let options: PolicyOptions
    /// The policy files that were loaded (base names without extension).
    public let files: [String]

    init(rules: [CompiledRule], files: [String], options: PolicyOptions) {
        self.rules = rules
        self.enforced = rules.filter { $0.mode == .enforce }
        self.shadowRules = rules.filter { $0.mode == .shadow }
        self.files = files
        self.options = options
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
        var facts = LazyFacts(timeZone: options.timeZone)
        var matched: [String] = []
        var firstForbid: Int = -1
        var firstPermit: Int = -1
        var permits = 0
        var forbids = 0
        for index in enforced.indices where enforced[index].condition.matches(input, &facts) {
            matched.append(enforced[index].id)
            if enforced[index].effect == .forbid {
                if firstForbid < 0 { firstForbid = index }
                forbids += 1
            } else {
                if firstPermit < 0 { firstPermit = index }
                permits += 1
            }
        }
        var decision: PolicyDecision
        if firstForbid >= 0 {
            let rule = enforced[firstForbid]
            decision = PolicyDecision(
                allowed: false, matchedRules: matched, decidingRule: rule.id,
                reason: rule.reason ?? PolicyDecision.defaultDenialReason,
                obligations: obligations(of: .forbid, count: forbids, first: firstForbid, input: input, facts: &facts))
        } else if firstPermit >= 0 {
            let rule = enforced[firstPermit]
            decision = PolicyDecision(
                allowed: true, matchedRules: matched, decidingRule: rule.id, reason: rule.reason,
                obligations: obligations(of: .permit, count: permits, first: firstPermit, input: input, facts: &facts))
        } else {
            decision = PolicyDecision(
                allowed: false, matchedRules: matched, decidingRule: nil, reason: PolicyDecision.defaultDenialReason,
                obligations: [])
        }
        if !shadowRules.isEmpty { applyShadow(&decision, input: input, facts: &facts, forbidMatched: firstForbid >= 0) }
        return decision
    }

    /// The obligations of the matching enforced rules with `effect`. With one matching rule its precomputed
    /// list is returned as is (no allocation); otherwise the lists are merged without duplicates.
    private func obligations(
        of effect: PolicyEffect, count: Int, first: Int, input: PolicyInput, facts: inout LazyFacts
    ) -> [Obligation] {
        if count == 1 { return enforced[first].obligations }
        var merged: [Obligation] = []
        for index in first..<enforced.count where enforced[index].effect == effect {
            let rule = enforced[index]
            guard !rule.obligations.isEmpty, rule.condition.matches(input, &facts) else { continue }
            for obligation in rule.obligations where !merged.contains(obligation) { merged.append(obligation) }
        }
        // Two audit levels: the fuller one wins.
        if merged.contains(.auditDetail(.full)) { merged.removeAll { $0 == .auditDetail(.minimal) } }
        return merged
    }

    private func applyShadow(
        _ decision: inout PolicyDecision, input: PolicyInput, facts: inout LazyFacts, forbidMatched: Bool
    ) {
        var outcomes: [ShadowOutcome] = []
        for rule in shadowRules where rule.condition.matches(input, &facts) {
            outcomes.append(ShadowOutcome(rule: rule.id, effect: rule.effect, reason: rule.reason))
        }
        guard !outcomes.isEmpty else { return }
        decision.shadow = outcomes
        if forbidMatched || outcomes.contains(where: { $0.effect == .forbid }) {
            decision.shadowDecision = false
        } else {
            decision.shadowDecision = decision.allowed || outcomes.contains { $0.effect == .permit }
        }
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
    /// RFC 6750 §3.1: the token is valid but does not allow this request.
    public var bearerChallenge: [(String, String)]? { [("error", "insufficient_scope")] }
    public var description: String { "policy denied (\(decision.decidingRule ?? "default")): \(publicMessage)" }
}
