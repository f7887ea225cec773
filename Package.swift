// swift-tools-version:6.0
// pdmp-gateway: a TLS-terminating FHIR security gateway for PDMP operators.
// Module layering: layers point downward only (the list below, lowest first); C is touched only by the
// thin wrapper modules GatewayCrypto, GatewayYAML, GatewayIO, GatewayHTTP, SharedState).
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

func system(_ name: String, pkgConfig: String? = nil, apt: String) -> Target {
    .systemLibrary(name: name, path: "Sources/\(name)", pkgConfig: pkgConfig, providers: [.apt([apt])])
}

func module(_ name: String, _ deps: [Target.Dependency]) -> Target {
    .target(name: name, dependencies: deps, swiftSettings: swiftSettings)
}

func tests(_ name: String, _ deps: [Target.Dependency], resources: [Resource]? = nil) -> Target {
    .testTarget(name: name, dependencies: deps, resources: resources, swiftSettings: swiftSettings)
}

let package = Package(
    name: "pdmp-gateway",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "pdmp-gateway", targets: ["pdmp-gateway"]),
    ],
    targets: [
        // C libraries from Debian (see C-INTEROP.md).
        system("COpenSSL", pkgConfig: "openssl", apt: "libssl-dev"),
        system("CNGHTTP2", pkgConfig: "libnghttp2", apt: "libnghttp2-dev"),
        system("CZlib", pkgConfig: "zlib", apt: "zlib1g-dev"),
        system("CLibUV", pkgConfig: "libuv", apt: "libuv1-dev"),
        system("CHTTPParser", apt: "libhttp-parser-dev"),  // no .pc file
        system("CYAML", pkgConfig: "yaml-0.1", apt: "libyaml-dev"),
        system("CHiredis", apt: "libhiredis-dev"),  // pkg-config adds a prohibited flag; link line suffices

        // Foundations.
        module("GatewayCore", []),
        module("GatewayCrypto", ["GatewayCore", "COpenSSL"]),
        module("GatewayYAML", ["GatewayCore", "CYAML"]),
        module("GatewayIO", ["GatewayCore", "CLibUV", "COpenSSL"]),
        module("GatewayHTTP", ["GatewayCore", "GatewayIO", "CHTTPParser", "CNGHTTP2", "CZlib"]),

        // Pure domain modules (no I/O).
        module("JOSE", ["GatewayCore", "GatewayCrypto"]),
        module("FHIR", ["GatewayCore"]),
        module("SMART", ["GatewayCore", "GatewayCrypto", "JOSE", "FHIR", "GatewayYAML"]),
        module("Policy", ["GatewayCore", "GatewayYAML", "FHIR", "SMART"]),
        module("Audit", ["GatewayCore", "GatewayCrypto", "FHIR"]),
        module("SharedState", ["GatewayCore", "GatewayIO", "SMART", "CHiredis"]),

        // Composition.
        module("Gateway", [
            "GatewayCore", "GatewayCrypto", "GatewayYAML", "GatewayIO", "GatewayHTTP",
            "JOSE", "FHIR", "SMART", "Policy", "Audit", "SharedState",
        ]),
        .executableTarget(name: "pdmp-gateway", dependencies: ["Gateway"], swiftSettings: swiftSettings),
        // Release-build micro benchmark of response inspection (issue #5; Benchmarks/InspectBench/main.swift).
        .executableTarget(
            name: "inspect-bench", dependencies: ["FHIR", "GatewayCore"], path: "Benchmarks/InspectBench",
            swiftSettings: swiftSettings),
        module("GatewayTesting", ["Gateway", "GatewayCrypto", "JOSE", "SMART", "GatewayIO", "GatewayHTTP", "GatewayCore"]),

        tests("GatewayCoreTests", ["GatewayCore"]),
        tests("GatewayCryptoTests", ["GatewayCrypto"]),
        tests("GatewayYAMLTests", ["GatewayYAML"]),
        tests("GatewayIOTests", ["GatewayIO", "GatewayCrypto", "GatewayTesting"]),
        tests("GatewayHTTPTests", ["GatewayHTTP", "GatewayIO", "GatewayTesting"]),
        tests("JOSETests", ["JOSE"]),
        tests("FHIRTests", ["FHIR"]),
        tests("SMARTTests", ["SMART", "JOSE"]),
        tests("PolicyTests", ["Policy"]),
        tests("AuditTests", ["Audit"]),
        tests("SharedStateTests", ["SharedState"]),
        tests("GatewayTests", ["Gateway", "GatewayTesting"]),
    ]
)
