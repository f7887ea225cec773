// A widely used third-party SMART Backend Services client against the gateway, unmodified (issue #4
// "Done when"): smart-fetch 1.0.3 from PyPI (in .venv via scripts/setup-python) discovers the token
// endpoint, signs its own ES384 assertion (header `kid` = the RFC 7638 thumbprint of its key), gets a token
// and crawls one patient's MedicationDispenses through the gateway from sekmet-fhir (deploy/demo), over TLS
// trusting the test CA through SSL_CERT_FILE.

import Foundation
import GatewayCore
import GatewayCrypto
import GatewayTesting
import JOSE
import Testing

/// The demo upstream (sekmet-fhir behind the PDMP responder), started for one test and stopped after it.
struct DemoUpstream {
    let dataDirectory: String
    let responderURL: String

    static var root: String { GatewayHarness.repositoryRoot }

    static func start(patients: Int) throws -> DemoUpstream {
        let directory = NSTemporaryDirectory() + "pdmp-demo-" + RandomID.hex128().prefix(10)
        let sekmet = try GatewayHarness.freePort(), responder = try GatewayHarness.freePort()
        let output = try Subprocess.run(root + "/deploy/demo/start-upstream", [
            "--port", String(sekmet), "--responder-port", String(responder), "--data-dir", directory,
            "--patients", String(patients),
        ])
        // READY sekmet=URL responder=URL index=PATH
        let ready = output.stdoutText.split(separator: "\n").first { $0.hasPrefix("READY ") }
        let fields = ready?.split(separator: " ").compactMap { field -> (String, String)? in
            let parts = field.split(separator: "=", maxSplits: 1)
            return parts.count == 2 ? (String(parts[0]), String(parts[1])) : nil
        }
        guard output.status == 0, let url = fields?.first(where: { $0.0 == "responder" })?.1 else {
            throw GatewayError(
                status: 500, issueType: .exception,
                "start-upstream failed (\(output.status)): \(output.stdoutText) \(output.stderr)")
        }
        return DemoUpstream(dataDirectory: directory, responderURL: url)
    }

    func stop() {
        _ = try? Subprocess.run(Self.root + "/deploy/demo/stop-upstream", ["--data-dir", dataDirectory])
        try? FileManager.default.removeItem(atPath: dataDirectory)
    }
}

enum SmartFetch {
    static var executable: String { GatewayHarness.repositoryRoot + "/.venv/bin/smart-fetch" }
    static var isInstalled: Bool { FileManager.default.isExecutableFile(atPath: executable) }

    /// RFC 7638 §3.2: SHA-256 over the required members, in lexicographic order, no whitespace.
    static func thumbprint(ofECKey key: PrivateKey, keyID: String) throws -> String {
        let jwk = try SigningKey(keyID: keyID, algorithm: .es384, privateKey: key).publicJWK()
        guard let x = jwk["x"]?.stringValue, let y = jwk["y"]?.stringValue, let crv = jwk["crv"]?.stringValue else {
            throw GatewayError(status: 500, issueType: .exception, "not an EC JWK")
        }
        let canonical = "{\"crv\":\"\(crv)\",\"kty\":\"EC\",\"x\":\"\(x)\",\"y\":\"\(y)\"}"
        return Base64URL.encode(Digest.sha256(Array(canonical.utf8)))
    }

    /// Runs smart-fetch with SSL_CERT_FILE set; returns its exit status and combined output.
    static func run(_ arguments: [String], caFile: String) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["SSL_CERT_FILE"] = caFile
        environment["REQUESTS_CA_BUNDLE"] = caFile
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// The resources of a `.ndjson.gz` file smart-fetch wrote.
    static func resources(_ path: String) throws -> [JSONValue] {
        let output = try Subprocess.run("/usr/bin/gzip", ["-dc", path])
        return output.stdoutText.split(separator: "\n").compactMap { try? JSONValue.parse(Array($0.utf8)) }
    }
}

@Suite("smart-fetch 1.0.3 through the gateway", .enabled(if: SmartFetch.isInstalled, "run scripts/setup-python"))
struct SmartFetchTests {
    static let patient = "pat-00001"

    @Test("smart-fetch gets a token and crawls one patient's MedicationDispenses from sekmet-fhir over TLS")
    func crawlOnePatient() throws {
        let upstream = try DemoUpstream.start(patients: 50)
        defer { upstream.stop() }
        let key = try PrivateKey.generateEC(.p384)
        let kid = try SmartFetch.thumbprint(ofECKey: key, keyID: "thumbprint")
        // smart-fetch asks `system/<T>.read` for 21 types; the registration grants the two it needs here.
        let gw = try GatewayHarness(
            upstreamURL: upstream.responderURL,
            clients: [.init(
                id: "smart-fetch", scopes: ["system/MedicationDispense.rs", "system/Patient.rs"], npis: ["1234567893"],
                roles: ["prescriber"], algorithm: .es384, key: key, kid: kid)])
        defer { gw.stop() }
        let work = gw.directory + "/smart-fetch"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let keyFile = work + "/key.pem"
        try key.pkcs8PEM().write(toFile: keyFile, atomically: true, encoding: .utf8)

        let out = work + "/out"
        let (status, log) = try SmartFetch.run(
            ["crawl", "--fhir-url", gw.fhirBase, "--id-list", Self.patient, "--type", "MedicationDispense",
             "--smart-client-id", "smart-fetch", "--smart-key", keyFile, out],
            caFile: gw.pki.caCertificate)
        #expect(status == 0, "smart-fetch failed:\n\(log.suffix(3000))")

        // What the upstream holds for that patient, asked directly (not through the gateway).
        let direct = try Subprocess.run(
            "/usr/bin/curl", ["-s", upstream.responderURL + "/MedicationDispense?patient=\(Self.patient)&_count=1000"])
        let expected = Set((try JSONValue.parse(direct.stdout)["entry"]?.arrayValue ?? []).compactMap {
            $0["resource"]?["id"]?.stringValue
        })
        #expect(!expected.isEmpty, "the demo data has no dispenses for \(Self.patient)")

        let fetched = try SmartFetch.resources(out + "/MedicationDispense.ndjson.gz")
        #expect(Set(fetched.compactMap { $0["id"]?.stringValue }) == expected, "smart-fetch log:\n\(log.suffix(3000))")
        #expect(fetched.allSatisfy { $0["subject"]?["reference"]?.stringValue == "Patient/\(Self.patient)" })
    }
}
