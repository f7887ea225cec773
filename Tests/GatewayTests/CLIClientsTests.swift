import Foundation
import GatewayCore
import GatewayCrypto
import JOSE
import SMART
import Testing
@testable import Gateway

@Suite("pdmp-gateway clients")
struct CLIClientsTests {
    /// A registry directory with gateway.yaml and a requester's key pair (public half in `<kid>.pub.pem`).
    struct Fixture {
        let dir: TemporaryDirectory
        let config: String
        let privateKey: PrivateKey

        init(curve: ECCurve = .p384) throws {
            dir = try TemporaryDirectory()
            config = try dir.writeGatewayConfig()
            privateKey = try PrivateKey.generateEC(curve)
            try dir.write("pharmacy-key.pem", try privateKey.publicPEM())
        }

        var registry: String { dir.file("clients.yaml") }

        func clients(_ arguments: [String]) -> CLIRun {
            runCLI(["clients"] + arguments + ["--config", config])
        }

        func addPharmacy(_ extra: [String] = []) -> CLIRun {
            clients([
                "add", "pharmacy-one", "--name", "Pharmacy One", "--kind", "organization", "--npi", "1111111112",
                "--npi", "1111111120", "--role", "pharmacist", "--network", "10.20.0.0/16",
                "--scope", "system/MedicationDispense.rs system/Patient.rs",
                "--public-key", dir.file("pharmacy-key.pem"),
            ] + extra)
        }
    }

    @Test("add, list, suspend, activate and remove round-trip through clients.yaml")
    func roundTrip() throws {
        let fixture = try Fixture()
        let added = fixture.addPharmacy()
        #expect(added.status == 0, "\(added.err)")
        #expect(added.out.contains("added client pharmacy-one"))
        #expect(added.out.contains("within about a second"))

        let entries = try ClientsFile.load(path: fixture.registry)
        #expect(entries.count == 1)
        let client = entries[0].client
        #expect(client.name == "Pharmacy One")
        #expect(client.kind == .organization)
        #expect(client.npis == ["1111111112", "1111111120"])
        #expect(client.allowedScopes == ["system/MedicationDispense.rs", "system/Patient.rs"])
        #expect(client.networks == ["10.20.0.0/16"])
        // The registered key is the requester's public key, under its RFC 7638 thumbprint (what
        // `pdmp-gateway token` puts in assertions without --kid), with ES384.
        let keys = try JWKSet.parse(try #require(entries[0].jwks).serialized(), strict: true).keys
        #expect(keys.count == 1)
        #expect(keys[0].keyID == JWK.thumbprint(of: try fixture.privateKey.publicKey()))
        #expect(keys[0].algorithm == .es384)
        #expect(try keys[0].publicKey.pem() == fixture.privateKey.publicKey().pem())

        let listed = fixture.clients(["list"])
        #expect(listed.status == 0)
        let thumbprint = JWK.thumbprint(of: try fixture.privateKey.publicKey())
        #expect(listed.out == "pharmacy-one  organization  active  npis=1111111112,1111111120  keys=\(thumbprint)\n")

        #expect(fixture.clients(["suspend", "pharmacy-one"]).status == 0)
        #expect(try ClientsFile.load(path: fixture.registry)[0].client.status == .suspended)
        #expect(fixture.clients(["list"]).out.contains("pharmacy-one  organization  suspended"))
        #expect(fixture.clients(["activate", "pharmacy-one"]).status == 0)
        #expect(try ClientsFile.load(path: fixture.registry)[0].client.status == .active)

        let removed = fixture.clients(["remove", "pharmacy-one"])
        #expect(removed.status == 0)
        #expect(try ClientsFile.load(path: fixture.registry).isEmpty)
        #expect(fixture.clients(["list"]).out.contains("no clients registered"))
    }

    @Test("list --json shows key ids and never key material")
    func listJSON() throws {
        let fixture = try Fixture()
        #expect(fixture.addPharmacy().status == 0)
        let run = fixture.clients(["list", "--json"])
        #expect(run.status == 0)
        let json = try JSONValue.parse(Array(run.out.utf8.dropLast()))
        let first = try #require(json.arrayValue?.first)
        #expect(first["id"]?.stringValue == "pharmacy-one")
        #expect(first["status"]?.stringValue == "active")
        #expect(first["key_ids"] == .array([.string(JWK.thumbprint(of: try fixture.privateKey.publicKey()))]))
        #expect(!run.out.contains("\"x\""))
        #expect(first["jwks"] == nil)
    }

    @Test("an existing id is not overwritten without --replace")
    func duplicate() throws {
        let fixture = try Fixture()
        #expect(fixture.addPharmacy().status == 0)
        let again = fixture.addPharmacy()
        #expect(again.status == 1)
        #expect(again.err.contains("already registered"))
        let replaced = fixture.addPharmacy(["--replace", "--role", "delegate"])
        #expect(replaced.status == 0, "\(replaced.err)")
        #expect(try ClientsFile.load(path: fixture.registry)[0].client.roles == ["pharmacist", "delegate"])
    }

    @Test("a key set with private material is refused and the file is left unchanged")
    func privateKeyMaterialRefused() throws {
        let fixture = try Fixture()
        #expect(fixture.addPharmacy().status == 0)
        let before = try #require(fixture.dir.read("clients.yaml"))
        let jwk = JWK.publicJSON(for: try fixture.privateKey.publicKey(), keyID: "k1", algorithm: .es384)
        let text = String(decoding: jwk.serialized(), as: UTF8.self)
            .replacingOccurrences(of: "\"kty\"", with: "\"d\":\"AAAA\",\"kty\"")
        let file = try fixture.dir.write("leaky.json", "{\"keys\":[\(text)]}")
        let run = fixture.clients(["add", "dr-leaky", "--jwks", file])
        #expect(run.status == 1)
        #expect(run.err.contains("client dr-leaky refused"))
        #expect(run.err.contains("private"))
        #expect(fixture.dir.read("clients.yaml") == before)
    }

    @Test("a key without kid, or an algorithm that does not fit the key, is refused")
    func badKeys() throws {
        let fixture = try Fixture()
        let jwk = String(decoding: JWK.publicJSON(
            for: try fixture.privateKey.publicKey(), keyID: "k1", algorithm: .es384).serialized(), as: UTF8.self)
        let noKid = try fixture.dir.write("nokid.json", jwk.replacingOccurrences(of: "\"kid\":\"k1\",", with: ""))
        let run = fixture.clients(["add", "dr-a", "--jwks", noKid])
        #expect(run.status == 1)
        #expect(run.err.contains("kid"))

        let mismatch = fixture.clients([
            "add", "dr-b", "--public-key", fixture.dir.file("pharmacy-key.pem"), "--alg", "RS384",
        ])
        #expect(mismatch.status == 1)
        #expect(mismatch.err.contains("refused"))
        #expect(!FileManager.default.fileExists(atPath: fixture.registry))
    }

    @Test("jwks_url must be https; exactly one key source is required")
    func keySources() throws {
        let fixture = try Fixture()
        let http = fixture.clients(["add", "dr-c", "--jwks-url", "http://keys.example/jwks.json"])
        #expect(http.status == 1)
        #expect(http.err.contains("https"))
        let ok = fixture.clients([
            "add", "dr-c", "--jwks-url", "https://keys.example/jwks.json", "--role", "prescriber",
        ])
        #expect(ok.status == 0, "\(ok.err)")
        #expect(fixture.clients(["list"]).out.contains("jwks_url=https://keys.example/jwks.json"))
        let none = fixture.clients(["add", "dr-d"])
        #expect(none.status == 2)
        let both = fixture.clients(["add", "dr-d", "--jwks-url", "https://a.example/j", "--jwks", "x.json"])
        #expect(both.status == 2)
    }

    @Test("given a private key file, only its public half is registered (with a note); option order is free")
    func privateKeyFile() throws {
        let fixture = try Fixture()
        let rsa = try PrivateKey.generateRSA(bits: 2048)
        let file = try fixture.dir.write("dr-rsa.pem", try rsa.pkcs8PEM())
        let run = fixture.clients(["add", "--public-key", file, "dr-rsa", "--role", "prescriber"])
        #expect(run.status == 0, "\(run.err)")
        #expect(run.err.contains("only its public half is registered"))
        let text = try #require(fixture.dir.read("clients.yaml"))
        #expect(!text.contains("PRIVATE"))
        let jwks = try #require(try ClientsFile.load(path: fixture.registry).first?.jwks)
        #expect(jwks["keys"]?.arrayValue?.first?["d"] == nil)
        let keys = try JWKSet.parse(jwks.serialized(), strict: true).keys
        #expect(keys.first?.keyID == JWK.thumbprint(of: try rsa.publicKey()))
        #expect(keys.first?.algorithm == .rs384)
        #expect(try keys.first?.publicKey.pem() == rsa.publicKey().pem())
    }

    @Test("changing an unknown client fails with exit 1")
    func unknownClient() throws {
        let fixture = try Fixture()
        for sub in ["remove", "suspend", "activate"] {
            let run = fixture.clients([sub, "nobody"])
            #expect(run.status == 1)
            #expect(run.err.contains("no client nobody"))
        }
    }

    @Test("a broken configuration is reported, not guessed around")
    func brokenConfig() throws {
        let dir = try TemporaryDirectory()
        let config = try dir.write("gateway.yaml", "listen:\n  port: 8443\n")
        let run = runCLI(["clients", "list", "--config", config])
        #expect(run.status == 1)
        #expect(run.err.contains("cannot read the configuration"))
        #expect(run.err.contains("gateway.yaml"))
    }
}
