// The gateway's token-signing keys (`auth.signing_keys`): one PEM file per key, named `<kid>.pem`, with
// the algorithm in a first comment line. The newest file signs; older ones keep verifying until the
// tokens they signed have expired (key rotation, issue #4 item 3).

import Foundation
import GatewayCore
import GatewayCrypto
public import JOSE

public enum KeyStore {
    /// Creates a new key in `directory` and returns its key id.
    public static func generate(algorithm: JWSAlgorithm, directory: String, now: Double) throws -> String {
        let key: PrivateKey
        switch algorithm {
        case .es256: key = try PrivateKey.generateEC(.p256)
        case .es384: key = try PrivateKey.generateEC(.p384)
        case .rs256, .rs384: key = try PrivateKey.generateRSA(bits: 2048)
        default: throw GatewayError.badRequest("unsupported signing algorithm \(algorithm.rawValue)")
        }
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let stamp = Int(now)
        let kid = "gw-\(algorithm.rawValue.lowercased())-\(stamp)-\(RandomID.hex128().prefix(6))"
        let text = "# alg: \(algorithm.rawValue)\n" + (try key.pkcs8PEM())
        let path = (directory as NSString).appendingPathComponent("\(kid).pem")
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
        else { throw GatewayError(status: 500, issueType: .exception, "cannot write \(path)") }
        return kid
    }

    /// Loads every key, newest (by modification time) first.
    public static func load(directory: String) throws -> [SigningKey] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            throw GatewayError(
                status: 500, issueType: .exception,
                "no signing keys in \(directory): run `pdmp-gateway keys generate --alg ES256 --out \(directory)`")
        }
        var keys: [(Date, SigningKey)] = []
        for name in names where name.hasSuffix(".pem") {
            let path = (directory as NSString).appendingPathComponent(name)
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
            let firstLine = text.split(separator: "\n", maxSplits: 1).first ?? ""
            guard firstLine.hasPrefix("# alg: "), let algorithm = JWSAlgorithm(rawValue: String(firstLine.dropFirst(7)))
            else { throw GatewayError(status: 500, issueType: .exception, "\(path): first line must be '# alg: ES256' (or RS256)") }
            let key = try PrivateKey(pem: text)
            let modified = (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date) ?? .distantPast
            keys.append((modified, try SigningKey(keyID: String(name.dropLast(4)), algorithm: algorithm, privateKey: key)))
        }
        guard !keys.isEmpty else {
            throw GatewayError(
                status: 500, issueType: .exception,
                "no signing keys in \(directory): run `pdmp-gateway keys generate --alg ES256 --out \(directory)`")
        }
        return keys.sorted { $0.0 > $1.0 }.map(\.1)
    }
}
