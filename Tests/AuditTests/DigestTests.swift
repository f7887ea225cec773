import GatewayCrypto
import Testing

@Suite("Digest and HMAC (OpenSSL EVP)")
struct DigestTests {
    @Test("SHA-2 digests match the FIPS 180-4 'abc' and empty-message vectors")
    func sha2Vectors() {
        let abc = Array("abc".utf8)
        #expect(Digest.hex(Digest.sha256(abc)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            Digest.hex(Digest.sha384(abc))
                == "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7")
        #expect(
            Digest.hex(Digest.sha512(abc))
                == "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
                + "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f")
        #expect(Digest.hex(Digest.sha256([])) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test("HMAC-SHA-256 matches RFC 4231 test case 2")
    func hmacVector() {
        let mac = HMAC.sha256(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))
        #expect(Digest.hex(mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test("HMAC accepts an empty key and an empty message")
    func hmacEmpty() {
        #expect(HMAC.sha256(key: [], message: []).count == 32)
        #expect(HMAC.sha256(key: [], message: []) != HMAC.sha256(key: [1], message: []))
    }

    @Test("hex writes two lowercase digits per byte")
    func hex() {
        #expect(Digest.hex([0x00, 0x0f, 0xa0, 0xff]) == "000fa0ff")
        #expect(Digest.hex([]) == "")
    }
}
