// A throwaway PKI made with the `openssl` CLI at test time: a CA, a server certificate for localhost and
// 127.0.0.1, and more leaf certificates on request. Nothing private is ever committed.

import Foundation

/// A test CA in a temporary directory, and the leaf certificates issued by it.
public struct TestPKI: Sendable {
    /// The directory holding every file; removed by `remove()`.
    public let directory: String
    /// The CA certificate (PEM), for `caFile:` / `--cacert` / `-CAfile`.
    public let caCertificate: String
    public let caKey: String
    /// The server certificate (PEM, leaf then nothing: the CA is the issuer) and its key.
    public let serverCertificate: String
    public let serverKey: String

    /// A failure of the `openssl` CLI, with its output.
    public struct CommandFailed: Error, CustomStringConvertible {
        let command: [String]
        let output: String
        public var description: String { "openssl \(command.joined(separator: " ")) failed: \(output)" }
    }

    /// Creates a CA named `caName` and a server certificate (SAN DNS:localhost, IP:127.0.0.1).
    public static func make(caName: String = "GatewayIO Test CA") throws -> TestPKI {
        let directory = NSTemporaryDirectory() + "gateway-pki-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let caCertificate = directory + "/ca.pem"
        let caKey = directory + "/ca.key"
        try run([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", caKey, "-out", caCertificate, "-days", "2", "-subj", "/CN=\(caName)",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ])
        var pki = TestPKI(
            directory: directory, caCertificate: caCertificate, caKey: caKey, serverCertificate: "", serverKey: "")
        let server = try pki.issue(name: "server", commonName: "localhost")
        pki = TestPKI(
            directory: directory, caCertificate: caCertificate, caKey: caKey,
            serverCertificate: server.certificate, serverKey: server.key)
        return pki
    }

    /// Issues a leaf certificate signed by the CA.
    ///
    /// - Parameters:
    ///   - name: the file stem (`<name>.pem`, `<name>.key`) inside `directory`.
    ///   - subjectAltNames: e.g. `DNS:localhost,IP:127.0.0.1`; the default suits loopback servers.
    ///   - clientAuth: issue a client certificate (extendedKeyUsage clientAuth) instead of a server one.
    public func issue(
        name: String, commonName: String, subjectAltNames: String = "DNS:localhost,IP:127.0.0.1",
        clientAuth: Bool = false
    ) throws -> (certificate: String, key: String) {
        let key = "\(directory)/\(name).key"
        let request = "\(directory)/\(name).csr"
        let certificate = "\(directory)/\(name).pem"
        let extensions = "\(directory)/\(name).ext"
        let usage = clientAuth ? "clientAuth" : "serverAuth"
        let lines = [
            "basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature", "extendedKeyUsage=\(usage)",
            "subjectAltName=\(subjectAltNames)",
        ]
        try lines.joined(separator: "\n").write(toFile: extensions, atomically: true, encoding: .utf8)
        try Self.run([
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", request, "-subj", "/CN=\(commonName)",
        ])
        try Self.run([
            "x509", "-req", "-in", request, "-CA", caCertificate, "-CAkey", caKey, "-CAcreateserial",
            "-out", certificate, "-days", "2", "-extfile", extensions,
        ])
        return (certificate, key)
    }

    /// Deletes the directory.
    public func remove() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private static func run(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CommandFailed(command: arguments, output: String(decoding: data, as: UTF8.self))
        }
    }
}
