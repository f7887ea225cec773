import Foundation
import JOSE
import Testing
@testable import Gateway

@Suite("pdmp-gateway keys generate")
struct CLIKeysTests {
    @Test("generates a key the key store loads, for each supported algorithm", arguments: ["ES256", "ES384", "RS256"])
    func generateThenLoad(alg: String) throws {
        let dir = try TemporaryDirectory()
        let keys = dir.file("keys")
        let run = runCLI(["keys", "generate", "--alg", alg, "--out", keys])
        #expect(run.status == 0, "\(run.err)")
        let kid = try #require(run.out.split(separator: "\n").first { $0.hasPrefix("kid: ") }?.dropFirst(5))
        #expect(run.out.contains("file: \(keys)/\(kid).pem"))
        #expect(run.out.contains("reload"))
        let loaded = try KeyStore.load(directory: keys)
        #expect(loaded.count == 1)
        #expect(loaded[0].keyID == String(kid))
        #expect(loaded[0].algorithm.rawValue == alg)
        let mode = try FileManager.default.attributesOfItem(atPath: "\(keys)/\(kid).pem")[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test("a second key becomes the signing key; the first stays for verification")
    func rotation() throws {
        let dir = try TemporaryDirectory()
        let keys = dir.file("keys")
        #expect(runCLI(["keys", "generate", "--alg", "ES256", "--out", keys]).status == 0)
        // Modification times order the keys; make the second one clearly newer.
        Thread.sleep(forTimeInterval: 0.05)
        let second = runCLI(["keys", "generate", "--alg", "RS384", "--out", keys])
        #expect(second.status == 0)
        let loaded = try KeyStore.load(directory: keys)
        #expect(loaded.map(\.algorithm) == [.rs384, .es256])
    }

    @Test("an algorithm the gateway does not sign with is a usage error",
          arguments: ["HS256", "none", "PS256", "es256"])
    func refusedAlgorithm(alg: String) throws {
        let dir = try TemporaryDirectory()
        let run = runCLI(["keys", "generate", "--alg", alg, "--out", dir.file("keys")])
        #expect(run.status == 2)
        #expect(run.err.contains("--alg must be one of ES256, ES384, RS256, RS384"))
        #expect(!FileManager.default.fileExists(atPath: dir.file("keys")))
    }

    @Test("--out is required")
    func outRequired() {
        let run = runCLI(["keys", "generate", "--alg", "ES256"])
        #expect(run.status == 2)
        #expect(run.err.contains("--out DIR"))
    }
}
