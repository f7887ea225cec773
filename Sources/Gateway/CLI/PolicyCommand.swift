// `pdmp-gateway policy test` and `policy explain` (issue #6 item 3): the policy author's tools. Both load
// the policy directory named by the configuration and classify requests with the gateway's own classifier
// (built by `GatewaySnapshot` from the same configuration), so a test passes here exactly when the running
// gateway would decide the same way.

import FHIR
import Foundation
import GatewayCore
import GatewayYAML
import Policy
import SMART

enum PolicyCommand {
    static func run(_ args: ParsedArguments, configPath: String, output: CLIOutput) throws -> Int32 {
        switch try MoreCommands.subcommand(args, ["test", "check", "explain"]) {
        case "test":
            try MoreCommands.allow(args, options: ["policies"])
            return try test(paths: Array(args.words.dropFirst(2)), config: loadConfig(args), output: output)
        case "check":
            try MoreCommands.allow(args, options: ["policies"])
            guard args.words.count == 2 else { throw CLIError("unexpected argument '\(args.words[2])'") }
            let config = try loadConfig(args)
            let policies = try load(config).policies
            output.out("\(config.policyDirectory): \(policies.ruleIDs.count) rules in \(policies.files.count) files are valid\n")
            return 0
        default:
            try MoreCommands.allow(args, options: ["client", "scope", "patient", "body", "content-type", "policies",
                                                   "clients"],
                                   flags: ["patient"])
            return try explain(args, config: loadConfig(args), output: output)
        }
    }

    // MARK: Loading

    /// The configuration the policy tools read: `--config FILE`; else ./gateway.yaml when it exists; else
    /// the defaults with ./policies and ./clients.yaml, so that a policy author can run the tools from a
    /// checkout of the policies without a gateway configuration. `--policies` and `--clients` override.
    static func loadConfig(_ args: ParsedArguments) throws -> GatewayConfig {
        let directory = FileManager.default.currentDirectoryPath
        var config: GatewayConfig
        if let path = args.option("config") ?? (FileManager.default.fileExists(atPath: "gateway.yaml") ? "gateway.yaml" : nil) {
            do {
                config = try ConfigLoader.load(path: path)
            } catch {
                throw CommandFailure("cannot read the configuration:\n\(error)\n(pass --config FILE, "
                    + "or --policies DIR to use a policy directory with the default settings)")
            }
        } else {
            guard args.option("policies") != nil || FileManager.default.fileExists(atPath: "policies") else {
                throw CommandFailure("no ./gateway.yaml and no ./policies directory in \(directory): "
                    + "pass --config FILE or --policies DIR")
            }
            config = try defaultConfig(directory: directory)
        }
        if let policies = args.option("policies") {
            config.policyDirectory = ConfigLoader.absolutePath(policies, relativeTo: directory)
        }
        if let clients = args.option("clients") {
            config.auth.clientsFile = ConfigLoader.absolutePath(clients, relativeTo: directory)
        }
        return config
    }

    /// The configuration defaults (FHIR base /fhir, no extra operations) with paths relative to `directory`;
    /// only the policy-relevant parts are ever used (nothing listens).
    static func defaultConfig(directory: String) throws -> GatewayConfig {
        let text = """
            listen: {address: 127.0.0.1, plaintext_for_testing: true}
            upstream: {url: "http://127.0.0.1/fhir"}
            """
        do {
            let source = (directory as NSString).appendingPathComponent("(defaults)")
            return try ConfigLoader.decode(YAMLParser.parse(bytes: Array(text.utf8), file: source), sourcePath: source)
        } catch {
            throw CommandFailure("internal: the default configuration does not load: \(error)")
        }
    }

    /// The policies and the classifier the gateway would build from `config` (the classifier comes from a
    /// `GatewaySnapshot`, so it has the configured base path, local bases and operations).
    static func load(_ config: GatewayConfig) throws -> (policies: PolicySet, classifier: FHIRClassifier) {
        let policies: PolicySet
        do {
            policies = try PolicySet.load(directory: config.policyDirectory, options: config.policyOptions)
        } catch {
            throw CommandFailure("the policies in \(config.policyDirectory) do not load:\n\(error)")
        }
        let snapshot = GatewaySnapshot(config: config, policies: policies, registry: ClientRegistry([]))
        return (policies, snapshot.classifier)
    }

    // MARK: test

    /// Runs the cases in `paths` (default `<policies>/tests`): one line per case and `N passed, M failed`.
    static func test(paths: [String], config: GatewayConfig, output: CLIOutput) throws -> Int32 {
        let (policies, classifier) = try load(config)
        let paths = paths.isEmpty ? [(config.policyDirectory as NSString).appendingPathComponent("tests")] : paths
        let report = PolicyTestRunner.run(paths: paths, policies: policies) { method, url, contentType, body in
            try classifier.classify(method: method, target: url, contentType: contentType, body: body ?? [])
        }
        output.out(report.output)
        return report.exitStatus
    }

    // MARK: explain

    static let methods: Set<String> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]

    /// Classifies one request for a registered client and prints the scope decision, the patient-context
    /// check and every rule's evaluation (`PolicyExplainer`). Exit 0 whenever an explanation was printed.
    static func explain(_ args: ParsedArguments, config: GatewayConfig, output: CLIOutput) throws -> Int32 {
        let words = Array(args.words.dropFirst(2))
        let patient = args.option("patient")
        guard words.count == 2 else { throw CLIError("policy explain needs METHOD URL, e.g. GET /fhir/Patient/pt-1") }
        guard let clientID = args.option("client") else { throw CLIError("policy explain needs --client ID") }
        let entries = try ClientsCommand.load(config.auth.clientsFile)
        guard let entry = entries.first(where: { $0.client.id == clientID }) else {
            throw CommandFailure("no client \(clientID) in \(config.auth.clientsFile)")
        }
        let (policies, classifier) = try load(config)
        let body = try args.option("body").map { file throws -> [UInt8] in
            guard let data = FileManager.default.contents(atPath: file) else {
                throw CommandFailure("cannot read the body file \(file)")
            }
            return [UInt8](data)
        }
        let contentType = args.option("content-type") ?? (body == nil ? nil : "application/fhir+json")
        let now = Date().timeIntervalSince1970
        let scopes = args.list("scope").isEmpty ? entry.client.allowedScopes : args.list("scope")
        let principal = Principal(
            clientID: clientID, issuer: config.auth.issuer, scopes: scopes, patient: patient, expiresAt: now + 300,
            client: entry.client)
        let interaction: Interaction
        do {
            interaction = try classifier.classify(
                method: words[0], target: originForm(words[1]), contentType: contentType, body: body ?? [])
        } catch {
            output.out("request: REFUSED before authorization: \(MoreCommands.describe(error))\n")
            return 0
        }
        output.out(preChecks(principal, interaction))
        let input = PolicyInput(
            principal: principal, interaction: interaction, clientAddress: address(for: entry.client), now: now)
        output.out(PolicyExplainer.explain(input, policies: policies))
        return 0
    }

    /// The checks the gateway makes before policy: scopes (SMART 2.2 scopes), then the patient context.
    static func preChecks(_ principal: Principal, _ interaction: Interaction) -> String {
        let scopeSet = ScopeSet(principal.scopes)
        var lines = ["scopes: " + (principal.scopes.isEmpty ? "(none)" : principal.scopes.joined(separator: " "))]
        if !scopeSet.invalid.isEmpty {
            lines.append("  ignored (not SMART scopes): " + scopeSet.invalid.joined(separator: " "))
        }
        var refused = false
        switch scopeSet.permits(interaction, patientContext: principal.patient) {
        case .allowed(let grant):
            var text = "scope decision: ALLOW (\(grant.level.rawValue)-level scope)"
            if !grant.narrowing.isEmpty { text += "; search narrowed by granular scope" }
            lines.append(text)
        case .denied(let error):
            refused = true
            let missing = error.missingScope.map { " (needs \($0))" } ?? ""
            lines.append("scope decision: DENY: \(error.publicMessage)\(missing)")
        }
        if let patient = principal.patient {
            switch CompartmentCheck.requestDecision(interaction, allowedPatients: [patient]) {
            case .allowed: lines.append("patient context \(patient): ALLOW")
            case .denied(let error):
                refused = true
                lines.append("patient context \(patient): DENY: \(error.publicMessage)")
            }
        }
        if refused { lines.append("(the gateway refuses before policy; the policy evaluation follows for reference)") }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The request target as origin-form: an absolute URL loses its scheme and authority.
    static func originForm(_ url: String) -> String {
        guard let scheme = url.range(of: "://") else { return url }
        let rest = url[scheme.upperBound...]
        guard let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) else { return "/" }
        return rest[slash] == "/" ? String(rest[slash...]) : "/" + rest[slash...]
    }

    /// An address the client plausibly calls from: the first host of its first registered network, else
    /// loopback (network rules for organizations test `network.address`).
    static func address(for client: RegisteredClient) -> String {
        guard let network = client.networks.first else { return "127.0.0.1" }
        let parts = network.split(separator: "/", maxSplits: 1)
        let base = String(parts[0])
        guard parts.count == 2, let prefix = Int(parts[1]) else { return base }
        if base.contains(":") { return base.hasSuffix("::") && prefix < 128 ? base + "1" : base }
        var octets = base.split(separator: ".").compactMap { Int($0) }
        if octets.count == 4, prefix < 31, octets[3] == 0 { octets[3] = 1 }
        return octets.map(String.init).joined(separator: ".")
    }
}
