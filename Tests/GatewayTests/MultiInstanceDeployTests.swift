// The deploy files (issue #8 item 4) cannot run here (no systemd, container engine or cluster), so they are
// checked against what the gateway actually accepts: the configurations decode with the real
// ConfigLoader, the policy and requester files load, and ports, probe paths, mounts, users and runtime
// libraries agree across the systemd unit, the container file and the Kubernetes manifests.

import Foundation
import Gateway
import GatewayCore
import GatewayTesting
import GatewayYAML
import Policy
import SharedState
import Testing

enum DeployFiles {
    static let root = GatewayHarness.repositoryRoot + "/deploy"
    static let etc = "/etc/pdmp-gateway"

    static func text(_ path: String) throws -> String {
        try String(contentsOfFile: root + "/" + path, encoding: .utf8)
    }

    static func yaml(_ path: String) throws -> YAMLNode {
        try YAMLParser.parse(try text(path), file: path)
    }

    /// Decodes a gateway.yaml written for /etc/pdmp-gateway, with that tree recreated in a temporary
    /// directory (the loader checks that the TLS files are readable).
    static func decodeConfig(
        _ text: String, files: [String], sourcePath: String = "/etc/pdmp-gateway/config/gateway.yaml"
    ) throws -> (GatewayConfig, String) {
        let directory = NSTemporaryDirectory() + "deploy-\(UUID().uuidString)"
        for file in files {
            let path = directory + file
            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try "placeholder\n".write(toFile: path, atomically: true, encoding: .utf8)
        }
        let relocated = text.replacingOccurrences(of: etc, with: directory + etc)
        let root = try YAMLParser.parse(relocated, file: "gateway.yaml")
        let config = try ConfigLoader.decode(root, sourcePath: directory + sourcePath)
        return (config, directory)
    }

    /// `Key=value` lines of a systemd unit (repeated keys kept in order).
    static func unitValues(_ text: String, _ key: String) -> [String] {
        text.split(separator: "\n").compactMap { line in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.hasPrefix("#"), trimmed.hasPrefix(key + "=") else { return nil }
            return String(trimmed.dropFirst(key.count + 1))
        }
    }

    /// The Debian runtime package of each library the system-library targets link.
    static let runtimePackages = [
        "ssl": "libssl3", "crypto": "libssl3", "nghttp2": "libnghttp2-14", "z": "zlib1g", "uv": "libuv1",
        "http_parser": "libhttp-parser2.9", "yaml": "libyaml-0-2", "hiredis": "libhiredis0.14",
    ]

    /// Every `link "x"` line of Sources/C*/module.modulemap.
    static func linkedLibraries() throws -> Set<String> {
        let sources = GatewayHarness.repositoryRoot + "/Sources"
        var libraries: Set<String> = []
        for name in try FileManager.default.contentsOfDirectory(atPath: sources) where name.hasPrefix("C") {
            let map = sources + "/" + name + "/module.modulemap"
            guard let text = try? String(contentsOfFile: map, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n") where line.trimmingCharacters(in: .whitespaces).hasPrefix("link ") {
                libraries.insert(line.split(separator: "\"")[1].description)
            }
        }
        return libraries
    }
}

extension YAMLNode {
    /// Follows keys and sequence indexes, e.g. `node.at("spec", "ports", 0, "port")`.
    func at(_ path: Any...) -> YAMLNode? {
        var node: YAMLNode? = self
        for step in path {
            if let key = step as? String {
                node = node?[key]
            } else if let index = step as? Int, let items = node?.sequenceItems, index < items.count {
                node = items[index]
            } else {
                return nil
            }
        }
        return node
    }

    func text(_ path: Any...) -> String? {
        var node: YAMLNode? = self
        for step in path {
            if let key = step as? String {
                node = node?[key]
            } else if let index = step as? Int, let items = node?.sequenceItems, index < items.count {
                node = items[index]
            } else {
                return nil
            }
        }
        return node?.scalarText
    }
}

@Suite("Deploy files agree with the configuration schema")
struct MultiInstanceDeployTests {
    @Test("the production gateway.yaml decodes with the real loader and matches the systemd unit")
    func productionConfig() throws {
        let (config, directory) = try DeployFiles.decodeConfig(
            try DeployFiles.text("gateway.production.yaml"),
            // Every file the configuration names must exist for it to load (as `check` requires).
            files: [
                "/etc/pdmp-gateway/tls/fullchain.pem", "/etc/pdmp-gateway/tls/privkey.pem",
                "/etc/pdmp-gateway/tls/upstream-ca.pem", "/etc/pdmp-gateway/audit-identifier.key",
            ],
            sourcePath: "/etc/pdmp-gateway/gateway.yaml")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(config.listen.port == 443)
        #expect(config.listen.tls != nil)
        #expect(config.admin.address == "127.0.0.1", "the admin listener has no authentication")
        #expect(config.auth.mode == "smart")
        #expect(config.auth.tokenLifetimeSeconds <= 300)
        #expect(config.publicBaseURL.hasPrefix("https://"))
        let endpoint = try RedisEndpoint(url: config.sharedState)
        #expect(endpoint.port == 6379)

        let unit = try DeployFiles.text("systemd/pdmp-gateway.service")
        #expect(DeployFiles.unitValues(unit, "User") == ["pdmp-gateway"])
        #expect(DeployFiles.unitValues(unit, "NoNewPrivileges") == ["yes"])
        #expect(DeployFiles.unitValues(unit, "ProtectSystem") == ["strict"])
        // Port 443 is the only reason for a capability, and the only one granted.
        #expect(DeployFiles.unitValues(unit, "AmbientCapabilities") == ["CAP_NET_BIND_SERVICE"])
        #expect(DeployFiles.unitValues(unit, "CapabilityBoundingSet") == ["CAP_NET_BIND_SERVICE"])
        #expect(DeployFiles.unitValues(unit, "ReadWritePaths") == [config.audit.directory])
        let start = try #require(DeployFiles.unitValues(unit, "ExecStart").first)
        #expect(start.hasSuffix("serve --config /etc/pdmp-gateway/gateway.yaml"))
        #expect(DeployFiles.unitValues(unit, "ExecReload").first?.contains("-HUP") == true)

        let sysusers = try DeployFiles.text("systemd/pdmp-gateway.sysusers")
        #expect(sysusers.contains("\nu pdmp-gateway "))
        let tmpfiles = try DeployFiles.text("systemd/pdmp-gateway.tmpfiles")
        #expect(tmpfiles.contains("d \(config.audit.directory) ") || tmpfiles.contains("d \(config.audit.directory)\t"))
    }

    @Test("the container file builds in one stage and runs with the runtime libraries only, as a non-root user")
    func containerFile() throws {
        let text = try DeployFiles.text("container/Containerfile")
        let lines = text.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") }
        let stages = lines.filter { $0.hasPrefix("FROM ") }
        #expect(stages.count == 2)
        #expect(stages.first?.hasSuffix(" AS build") == true)
        let runtimeStart = try #require(lines.firstIndex { $0.hasPrefix("FROM ") && $0.hasSuffix(" AS runtime") })
        let runtime = lines[runtimeStart...].joined(separator: "\n")
        let packages = Set(runtime.split(whereSeparator: { " \\\n".contains($0) }).map(String.init)
            .filter { $0.hasPrefix("lib") || $0 == "zlib1g" || $0 == "ca-certificates" })
        #expect(packages.allSatisfy { !$0.hasSuffix("-dev") }, "development packages in the runtime image")
        #expect(!runtime.contains("swift build"))
        for library in try DeployFiles.linkedLibraries() {
            let package = try #require(DeployFiles.runtimePackages[library], "no runtime package known for -l\(library)")
            #expect(packages.contains(package), "the runtime image lacks \(package) for -l\(library)")
        }
        let user = try #require(lines.last { $0.hasPrefix("USER ") })
        #expect(!user.contains("root") && !user.hasSuffix(" 0") && !user.contains(" 0:"))
        let exposed = lines.filter { $0.hasPrefix("EXPOSE ") }.flatMap { $0.split(separator: " ").dropFirst() }.map(String.init)
        let k8s = try kubernetesConfig()
        defer { try? FileManager.default.removeItem(atPath: k8s.1) }
        #expect(Set(exposed) == [String(k8s.0.listen.port), String(k8s.0.admin.port)])
    }

    func kubernetesConfig() throws -> (GatewayConfig, String) {
        let map = try DeployFiles.yaml("kubernetes/configmap.yaml")
        let text = try #require(map.text("data", "gateway.yaml"))
        return try DeployFiles.decodeConfig(text, files: [
            "/etc/pdmp-gateway/tls/tls.crt", "/etc/pdmp-gateway/tls/tls.key", "/etc/pdmp-gateway/redis/password",
            "/etc/pdmp-gateway/keys-audit/identifier-hash.key",
        ])
    }

    /// `shared_state_password_file` as written in the ConfigMap's gateway.yaml.
    func redisPasswordFile() throws -> String {
        let map = try DeployFiles.yaml("kubernetes/configmap.yaml")
        let text = try #require(map.text("data", "gateway.yaml"))
        return try #require(try YAMLParser.parse(text).text("shared_state_password_file"))
    }

    @Test("every manifest is listed in the kustomization and parses; the example Secrets are not applied")
    func kustomization() throws {
        let listed = try #require(try DeployFiles.yaml("kubernetes/kustomization.yaml").at("resources")?.sequenceItems)
            .compactMap(\.scalarText)
        let all = try FileManager.default.contentsOfDirectory(atPath: DeployFiles.root + "/kubernetes")
            .filter { $0.hasSuffix(".yaml") && $0 != "kustomization.yaml" }
        let files = all.filter { !$0.hasSuffix(".example.yaml") }
        #expect(Set(listed) == Set(files))
        // `kubectl apply -k` must never overwrite Secrets created from real keys with placeholders.
        #expect(all.contains("secrets.example.yaml"))
        for file in files {
            let text = try String(contentsOfFile: DeployFiles.root + "/kubernetes/" + file, encoding: .utf8)
            #expect(!text.contains("kind: Secret"), "\(file) is applied by the kustomization and holds a Secret")
        }
        for file in files {
            let node = try DeployFiles.yaml("kubernetes/" + file)
            #expect(node.text("apiVersion") != nil && node.text("kind") != nil && node.text("metadata", "name") != nil, "\(file)")
        }
    }

    @Test("the StatefulSet's ports, probes and mounts match the gateway.yaml it runs with")
    func deployment() throws {
        let (config, directory) = try kubernetesConfig()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let relocated = directory
        func original(_ path: String) -> String { path.replacingOccurrences(of: relocated, with: "") }

        let deployment = try DeployFiles.yaml("kubernetes/statefulset.yaml")
        #expect(deployment.text("kind") == "StatefulSet", "stable pod names keep each audit chain in one volume")
        let pod = try #require(deployment.at("spec", "template", "spec"))
        let container = try #require(pod.at("containers", 0))
        let ports = Dictionary(uniqueKeysWithValues: (container.at("ports")?.sequenceItems ?? []).compactMap { port in
            port.text("name").flatMap { name in port.text("containerPort").flatMap(Int.init).map { (name, $0) } }
        })
        #expect(ports["https"] == config.listen.port)
        #expect(ports["admin"] == config.admin.port)
        #expect(config.admin.address == "0.0.0.0", "the kubelet probes the pod address")
        #expect(config.listen.port >= 1024, "no capability in the pod: the Service maps 443")
        #expect(container.text("readinessProbe", "httpGet", "path") == "/readyz")
        #expect(container.text("livenessProbe", "httpGet", "path") == "/healthz")
        for probe in ["readinessProbe", "livenessProbe"] {
            let port = try #require(container.text(probe, "httpGet", "port"))
            #expect(port == "admin" || Int(port) == config.admin.port, "\(probe) is not on the admin port")
        }
        let arguments = (container.at("args")?.sequenceItems ?? []).compactMap(\.scalarText)
        let configPath = try #require(arguments.last)
        #expect(arguments.first == "serve" && original(config.sourcePath) == configPath)

        // Every file the configuration names lives under a mount of the right volume.
        let mounts = (container.at("volumeMounts")?.sequenceItems ?? []).compactMap { mount -> (String, String)? in
            guard let name = mount.text("name"), let path = mount.text("mountPath") else { return nil }
            return (name, path)
        }
        let volumes = Dictionary(uniqueKeysWithValues: (pod.at("volumes")?.sequenceItems ?? []).compactMap { volume in
            volume.text("name").map { ($0, volume) }
        })
        func volume(for path: String) -> YAMLNode? {
            let match = mounts.filter { path == $0.1 || path.hasPrefix($0.1 + "/") }.max { $0.1.count < $1.1.count }
            return match.flatMap { volumes[$0.0] }
        }
        let tls = try #require(config.listen.tls)
        let expectations: [(String, String, String)] = [
            (original(config.sourcePath), "configMap", "pdmp-gateway-config"),
            (original(config.auth.clientsFile), "configMap", "pdmp-gateway-config"),
            (original(config.policyDirectory), "configMap", "pdmp-gateway-policies"),
            (original(tls.certificateChain), "secret", "pdmp-gateway-tls"),
            (original(tls.privateKey), "secret", "pdmp-gateway-tls"),
            (original(config.auth.signingKeyDirectory), "secret", "pdmp-gateway-signing-keys"),
            (original(config.audit.identifierHashKeyFile ?? ""), "secret", "pdmp-gateway-audit-key"),
            (try redisPasswordFile(), "secret", "pdmp-gateway-redis"),
        ]
        // The audit directory is each pod's own claim from volumeClaimTemplates, never shared or per-name.
        let templates = (deployment.at("spec", "volumeClaimTemplates")?.sequenceItems ?? []).compactMap {
            $0.text("metadata", "name")
        }
        let auditMount = mounts.filter { original(config.audit.directory) == $0.1 }.first
        #expect(auditMount.map { templates.contains($0.0) } == true, "the audit directory is not a per-pod claim")
        for (path, kind, name) in expectations {
            let source = volume(for: path)
            let reference = kind == "secret" ? source?.text(kind, "secretName")
                : kind == "configMap" ? source?.text(kind, "name") : source?.text(kind, "claimName")
            #expect(reference == name, "\(path) is not mounted from \(kind) \(name)")
        }
        #expect(container.text("securityContext", "readOnlyRootFilesystem") == "true")
        #expect(container.text("securityContext", "allowPrivilegeEscalation") == "false")
        #expect(pod.text("securityContext", "runAsNonRoot") == "true")
        // Drain (30 s) plus the preStop pause fits in the grace period.
        #expect(Int(pod.text("terminationGracePeriodSeconds") ?? "") ?? 0 >= 35)

        // The Service and the PodDisruptionBudget select these pods; the Service targets the TLS port.
        let labels = deployment.at("spec", "template", "metadata", "labels")
        let app = try #require(labels?.text("app.kubernetes.io/name"))
        let service = try DeployFiles.yaml("kubernetes/service.yaml")
        #expect(service.text("spec", "selector", "app.kubernetes.io/name") == app)
        #expect(service.text("spec", "ports", 0, "targetPort") == "https")
        #expect(service.text("spec", "ports", 0, "port") == "443")
        let budget = try DeployFiles.yaml("kubernetes/poddisruptionbudget.yaml")
        #expect(budget.text("spec", "selector", "matchLabels", "app.kubernetes.io/name") == app)
        let replicas = try #require(Int(deployment.text("spec", "replicas") ?? ""))
        let minAvailable = try #require(Int(budget.text("spec", "minAvailable") ?? ""))
        #expect(minAvailable >= 1 && minAvailable < replicas, "a drain must be able to evict one pod")
        let network = try DeployFiles.yaml("kubernetes/networkpolicy.yaml")
        let allowedPorts = (network.at("spec", "ingress")?.sequenceItems ?? []).flatMap { rule in
            (rule.at("ports")?.sequenceItems ?? []).compactMap { $0.text("port").flatMap(Int.init) }
        }
        #expect(Set(allowedPorts) == [config.listen.port, config.admin.port])
    }

    @Test("the shared_state URL names the reference Redis Service, which runs with persistence and no eviction")
    func redisReference() throws {
        let (config, directory) = try kubernetesConfig()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let endpoint = try RedisEndpoint(url: config.sharedState)
        let service = try DeployFiles.yaml("kubernetes/redis-service.yaml")
        #expect(service.text("metadata", "name") == endpoint.host)
        #expect(service.text("spec", "ports", 0, "port") == String(endpoint.port))
        let redis = try DeployFiles.yaml("kubernetes/redis.yaml")
        let arguments = (redis.at("spec", "template", "spec", "containers", 0, "args")?.sequenceItems ?? []).compactMap(\.scalarText)
        let appendonly = try #require(arguments.firstIndex(of: "--appendonly"))
        #expect(arguments[appendonly + 1] == "yes", "a Redis restart must not forget used assertion ids")
        let policy = try #require(arguments.firstIndex(of: "--maxmemory-policy"))
        #expect(arguments[policy + 1] == "noeviction", "evicting a jti would re-open replay")
        // A password from the Secret the gateway reads too, and only the gateway pods may connect.
        let requirepass = try #require(arguments.firstIndex(of: "--requirepass"))
        #expect(arguments[requirepass + 1] == "$(REDIS_PASSWORD)")
        let env = redis.at("spec", "template", "spec", "containers", 0, "env")?.sequenceItems ?? []
        let password = env.first { $0.text("name") == "REDIS_PASSWORD" }
        #expect(password?.text("valueFrom", "secretKeyRef", "name") == "pdmp-gateway-redis")
        #expect(try redisPasswordFile().hasPrefix("/etc/pdmp-gateway/redis/"))
        let network = try DeployFiles.yaml("kubernetes/redis-networkpolicy.yaml")
        #expect(network.text("spec", "podSelector", "matchLabels", "app.kubernetes.io/name") == "pdmp-gateway-redis")
        #expect(network.text("spec", "ingress", 0, "from", 0, "podSelector", "matchLabels", "app.kubernetes.io/name")
            == "pdmp-gateway")
        #expect(network.text("spec", "ingress", 0, "ports", 0, "port") == String(endpoint.port))
        // The password file's content reached the URL the gateway connects with.
        #expect(endpoint.password == "placeholder")
    }

    @Test("the ConfigMaps' requesters and policies load with the gateway's own loaders")
    func configMapContents() throws {
        let directory = NSTemporaryDirectory() + "deploy-maps-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory + "/policies", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = try DeployFiles.yaml("kubernetes/configmap.yaml")
        try #require(config.text("data", "clients.yaml")).write(toFile: directory + "/clients.yaml", atomically: true, encoding: .utf8)
        let clients = try ClientsFile.load(path: directory + "/clients.yaml")
        #expect(!clients.isEmpty)
        let policies = try DeployFiles.yaml("kubernetes/configmap-policies.yaml")
        let entries = try #require(policies.at("data")?.mappingEntries)
        #expect(!entries.isEmpty)
        for entry in entries {
            let name = try #require(entry.key.scalarText)
            try #require(entry.value.scalarText).write(toFile: directory + "/policies/" + name, atomically: true, encoding: .utf8)
        }
        // Throws with file:line problems when a policy in the ConfigMap does not load.
        _ = try PolicySet.load(directory: directory + "/policies")
    }
}
