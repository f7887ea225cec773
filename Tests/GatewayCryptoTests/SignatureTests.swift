import Testing

@testable import GatewayCrypto

@Suite("Signatures") struct SignatureTests {
    static let message = Array("header.payload".utf8)
    static let ecKeys: [ECCurve: PrivateKey] = {
        var keys: [ECCurve: PrivateKey] = [:]
        for curve in ECCurve.allCases { keys[curve] = try! PrivateKey.generateEC(curve) }
        return keys
    }()
    static let rsaKey = try! PrivateKey.generateRSA(bits: 2048)

    @Test(
        "ECDSA signs raw r||s of the curve's exact length and verifies",
        arguments: [
            (ECCurve.p256, HashAlgorithm.sha256), (.p384, .sha384), (.p521, .sha512),
        ])
    func ecdsaRoundTrip(curve: ECCurve, hash: HashAlgorithm) throws {
        let key = Self.ecKeys[curve]!
        let signature = try key.sign(Self.message, scheme: .ecdsa(hash))
        #expect(signature.count == 2 * curve.coordinateByteCount)
        let publicKey = try key.publicKey()
        #expect(publicKey.kind == .ec(curve))
        #expect(publicKey.verify(signature, for: Self.message, scheme: .ecdsa(hash)))
        #expect(!publicKey.verify(signature, for: Self.message + [0x2E], scheme: .ecdsa(hash)))
    }

    @Test("RSA PKCS#1 v1.5 and PSS verify, and are not interchangeable", arguments: HashAlgorithm.allCases)
    func rsaRoundTrip(hash: HashAlgorithm) throws {
        let publicKey = try Self.rsaKey.publicKey()
        let pkcs1 = try Self.rsaKey.sign(Self.message, scheme: .rsaPKCS1v15(hash))
        let pss = try Self.rsaKey.sign(Self.message, scheme: .rsaPSS(hash))
        #expect(pkcs1.count == 256 && pss.count == 256)
        #expect(publicKey.verify(pkcs1, for: Self.message, scheme: .rsaPKCS1v15(hash)))
        #expect(publicKey.verify(pss, for: Self.message, scheme: .rsaPSS(hash)))
        #expect(!publicKey.verify(pkcs1, for: Self.message, scheme: .rsaPSS(hash)))
        #expect(!publicKey.verify(pss, for: Self.message, scheme: .rsaPKCS1v15(hash)))
    }

    @Test("An RSA signature of the wrong length is refused even with a valid prefix")
    func rsaLength() throws {
        let publicKey = try Self.rsaKey.publicKey()
        let good = try Self.rsaKey.sign(Self.message, scheme: .rsaPKCS1v15(.sha256))
        #expect(!publicKey.verify([0] + good, for: Self.message, scheme: .rsaPKCS1v15(.sha256)))
        #expect(!publicKey.verify(Array(good.dropFirst()), for: Self.message, scheme: .rsaPKCS1v15(.sha256)))
    }

    @Test("Psychic ECDSA signatures are refused (CVE-2022-21449)")
    func psychicSignatures() throws {
        let publicKey = try Self.ecKeys[.p256]!.publicKey()
        let order: [UInt8] = [
            0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
        ]
        let one = [UInt8](repeating: 0, count: 31) + [1]
        let zero = [UInt8](repeating: 0, count: 32)
        let der: [UInt8] = [0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00]
        for signature in [zero + zero, order + order, one + zero, zero + one, der] {
            #expect(!publicKey.verify(signature, for: Self.message, scheme: .ecdsa(.sha256)))
        }
    }

    @Test("A DER ECDSA signature is refused: JWS wants raw r||s")
    func derRefused() throws {
        let key = Self.ecKeys[.p256]!
        let raw = try key.sign(Self.message, scheme: .ecdsa(.sha256))
        let der = try #require(SignatureOps.derSignature(raw: raw, curve: .p256))
        #expect(try !key.publicKey().verify(der, for: Self.message, scheme: .ecdsa(.sha256)))
    }

    @Test("A scheme that does not fit the key type never verifies or signs")
    func schemeMismatch() throws {
        let ec = Self.ecKeys[.p256]!
        let signature = try ec.sign(Self.message, scheme: .ecdsa(.sha256))
        #expect(try !ec.publicKey().verify(signature, for: Self.message, scheme: .rsaPKCS1v15(.sha256)))
        #expect(throws: CryptoError.self) { try ec.sign(Self.message, scheme: .rsaPSS(.sha256)) }
        #expect(throws: CryptoError.self) { try Self.rsaKey.sign(Self.message, scheme: .ecdsa(.sha256)) }
    }

    @Test("A P-384 signature does not verify as P-256 (curve is part of the key)")
    func curveMismatch() throws {
        let signature = try Self.ecKeys[.p384]!.sign(Self.message, scheme: .ecdsa(.sha384))
        #expect(try !Self.ecKeys[.p256]!.publicKey().verify(signature, for: Self.message, scheme: .ecdsa(.sha384)))
    }
}
