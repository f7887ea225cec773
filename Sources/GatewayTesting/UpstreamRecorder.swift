// The recording upstream (Tests/upstream/recorder.py) as a Swift object: start it, program canned
// responses, read what it received. Integration tests use it to assert "the upstream saw nothing".

import Foundation
public import GatewayCore

public final class UpstreamRecorder: @unchecked Sendable {
    // Safe: immutable after init except `process`, which is only touched in init and `stop()`.
    public let port: Int
    public let controlPort: Int
    private let process: Process

    /// One request as the upstream received it.
    public struct Request: Sendable {
        public let method: String
        public let target: String
        public let headers: [(String, String)]
        public let body: [UInt8]
        public let connection: Int

        public func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }

        public func headerValues(_ name: String) -> [String] {
            headers.filter { $0.0.lowercased() == name.lowercased() }.map(\.1)
        }
    }

    /// Whether the data port speaks TLS.
    public let tls: Bool

    /// Starts `recorder.py` on ephemeral ports and waits for its READY line.
    /// - Parameter tlsCertificate: certificate and key files for a TLS data port (`--tls-cert/--tls-key`).
    public init(repositoryRoot: String, tlsCertificate: (certificate: String, key: String)? = nil) throws {
        let arguments = [repositoryRoot + "/Tests/upstream/recorder.py", "--port", "0", "--control-port", "0"]
            + (tlsCertificate.map { ["--tls-cert", $0.certificate, "--tls-key", $0.key] } ?? [])
        tls = tlsCertificate != nil
        let (process, words) = try Subprocess.startServer("/usr/bin/python3", arguments)
        self.process = process
        guard words.count >= 3, words[0] == "READY", let port = Int(words[1]), let control = Int(words[2]) else {
            process.terminate()
            throw GatewayError(status: 500, issueType: .exception, "recorder did not start: \(words)")
        }
        self.port = port
        self.controlPort = control
    }

    deinit { stop() }

    public func stop() {
        // SIGKILL: the recorder's serving threads would keep a SIGTERM'd interpreter alive.
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// Base URL of the data port with the FHIR base path.
    public var baseURL: String { "\(tls ? "https" : "http")://127.0.0.1:\(port)/fhir" }

    /// Everything received so far, oldest first.
    public func requests() throws -> [Request] {
        let data = try control("GET", "/__control/requests")
        guard case .array(let items) = try JSONValue.parse(data) else { return [] }
        return items.map { item in
            let headers = (item["headers"]?.arrayValue ?? []).compactMap { pair -> (String, String)? in
                guard let a = pair.arrayValue, a.count == 2, let n = a[0].stringValue, let v = a[1].stringValue else { return nil }
                return (n, v)
            }
            let body = item["bodyBase64"]?.stringValue.flatMap { Data(base64Encoded: $0) }.map(Array.init) ?? []
            return Request(
                method: item["method"]?.stringValue ?? "", target: item["target"]?.stringValue ?? "", headers: headers,
                body: body, connection: item["connection"]?.intValue ?? -1)
        }
    }

    /// Programs a canned response (see Tests/upstream/README.md for the fields).
    public func respond(_ rule: JSONValue) throws {
        _ = try control("POST", "/__control/responses", body: rule.serialized())
    }

    /// Forgets recorded requests and canned responses.
    public func reset() throws {
        _ = try control("POST", "/__control/reset")
    }

    private func control(_ method: String, _ path: String, body: [UInt8] = []) throws -> [UInt8] {
        var arguments = ["-s", "-f", "-X", method, "http://127.0.0.1:\(controlPort)\(path)"]
        if !body.isEmpty { arguments += ["-H", "Content-Type: application/json", "--data-binary", "@-"] }
        let result = try Subprocess.run("/usr/bin/curl", arguments, stdin: body)
        guard result.status == 0 else {
            throw GatewayError(status: 500, issueType: .exception, "recorder control \(path) failed: \(result.stderr)")
        }
        return result.stdout
    }
}
