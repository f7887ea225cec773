import Testing

@testable import GatewayCrypto

@Suite("Keys") struct KeyTests {
    @Test("EC keys round-trip through coordinates and PEM", arguments: ECCurve.allCases)
    func ecRoundTrip(curve: ECCurve) throws {
        let privateKey = try PrivateKey.generateEC(curve)
        let publicKey = try privateKey.publicKey()
        let (x, y) = try #require(publicKey.ecCoordinates)
        #expect(x.count == curve.coordinateByteCount && y.count == curve.coordinateByteCount)
        let rebuilt = try PublicKey(curve: curve, x: x, y: y)
        let message = Array("m".utf8)
        let signature = try privateKey.sign(message, scheme: .ecdsa(.sha256))
        #expect(rebuilt.verify(signature, for: message, scheme: .ecdsa(.sha256)))
        #expect(try rebuilt.pem() == publicKey.pem())
        let reloaded = try PrivateKey(pem: privateKey.pkcs8PEM())
        #expect(reloaded.kind == .ec(curve))
        #expect(try privateKey.pkcs8PEM().hasPrefix("-----BEGIN PRIVATE KEY-----"))
    }

    @Test("EC coordinates must have the curve's exact length")
    func ecLengths() throws {
        let (x, y) = try #require(try PrivateKey.generateEC(.p384).publicKey().ecCoordinates)
        #expect(throws: CryptoError.self) { try PublicKey(curve: .p384, x: Array(x.dropFirst()), y: y) }
        #expect(throws: CryptoError.self) { try PublicKey(curve: .p384, x: [0] + x, y: y) }
        #expect(throws: CryptoError.self) { try PublicKey(curve: .p256, x: x, y: y) }
    }

    @Test("A point that is not on the curve is refused")
    func offCurve() throws {
        var (x, y) = try #require(try PrivateKey.generateEC(.p256).publicKey().ecCoordinates)
        y[31] ^= 1
        #expect(throws: CryptoError.self) { try PublicKey(curve: .p256, x: x, y: y) }
        x = [UInt8](repeating: 0, count: 32)
        #expect(throws: CryptoError.self) { try PublicKey(curve: .p256, x: x, y: x) }
    }

    @Test("RSA keys round-trip through n/e and PEM")
    func rsaRoundTrip() throws {
        let privateKey = try PrivateKey.generateRSA(bits: 2048)
        #expect(privateKey.kind == .rsa(bits: 2048))
        let publicKey = try privateKey.publicKey()
        let (n, e) = try #require(publicKey.rsaComponents)
        #expect(n.count == 256 && e == [0x01, 0x00, 0x01])
        let rebuilt = try PublicKey(rsaModulus: n, exponent: e)
        #expect(rebuilt.kind == .rsa(bits: 2048))
        let signature = try privateKey.sign([1, 2, 3], scheme: .rsaPKCS1v15(.sha384))
        #expect(rebuilt.verify(signature, for: [1, 2, 3], scheme: .rsaPKCS1v15(.sha384)))
        let reloaded = try PrivateKey(pem: privateKey.pkcs8PEM())
        #expect(try reloaded.publicPEM() == publicKey.pem())
    }

    @Test("Unsupported RSA sizes are not generated")
    func rsaSizes() {
        #expect(throws: CryptoError.self) { try PrivateKey.generateRSA(bits: 1024) }
    }

    @Test("Garbage PEM is refused and the error carries the operation")
    func badPEM() {
        let bogus = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
        #expect(throws: CryptoError.self) { try PublicKey(pem: bogus) }
        do {
            _ = try PrivateKey(pem: "not a key")
            Issue.record("accepted garbage")
        } catch {
            #expect(error.operation == "read private key PEM")
        }
    }
}
