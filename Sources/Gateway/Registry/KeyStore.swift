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

    /// Loads every key, newest (by modification time) first. Errors name the file and say why it could
    /// not be used (`no such file`, `permission denied`), so an unreadable key is never reported as a
    /// missing one.
    public static func load(directory: String) throws -> [SigningKey] {
        let generate = "run `pdmp-gateway keys generate --alg ES256 --out \(directory)`"
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            let problem = FileAccess.readProblem(directory)
            if problem == nil || problem?.reason == "no such file" {
                throw LoadFailure("no signing keys: \(directory) does not exist: \(generate)")
            }
            throw LoadFailure("signing keys: \(problem!)")
        }
        var keys: [(Date, SigningKey)] = []
        for name in names where name.hasSuffix(".pem") {
            let path = (directory as NSString).appendingPathComponent(name)
            let text: String
            do {
                text = String(decoding: try FileAccess.contents(path), as: UTF8.self)
            } catch {
                throw LoadFailure("signing key \(error)")
            }
            let firstLine = text.split(separator: "\n", maxSplits: 1).first ?? ""
            guard firstLine.hasPrefix("# alg: "), let algorithm = JWSAlgorithm(rawValue: String(firstLine.dropFirst(7)))
            else { throw LoadFailure("\(path): first line must be '# alg: ES256' (or ES384, RS256, RS384)") }
            let key: PrivateKey
            do {
                key = try PrivateKey(pem: text)
            } catch {
                throw LoadFailure("\(path): not a PEM private key: \(error)")
            }
            let modified = (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date) ?? .distantPast
            keys.append((modified, try SigningKey(keyID: String(name.dropLast(4)), algorithm: algorithm, privateKey: key)))
        }
        guard !keys.isEmpty else { throw LoadFailure("no signing keys (*.pem) in \(directory): \(generate)") }
        return keys.sorted { $0.0 > $1.0 }.map(\.1)
    }

    /// A warning for every key file that group or others may read (the files hold private keys).
    static func warnings(directory: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".pem") }.sorted().compactMap {
            FileAccess.privateKeyWarning((directory as NSString).appendingPathComponent($0))
        }
    }
}
