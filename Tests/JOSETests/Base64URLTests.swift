import Testing

@testable import JOSE

@Suite("Base64url") struct Base64URLTests {
    @Test("Round-trips every length", arguments: 0..<8)
    func roundTrip(length: Int) {
        let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 97 &+ 251) }
        let text = Base64URL.encode(bytes)
        #expect(!text.contains("="))
        #expect(Base64URL.decode(text) == bytes)
    }

    @Test("Known values use the URL-safe alphabet")
    func alphabet() {
        #expect(Base64URL.encode([0xFB, 0xFF]) == "-_8")
        #expect(Base64URL.encode("{\"alg\":\"none\"}") == "eyJhbGciOiJub25lIn0")
    }

    @Test(
        "Non-canonical forms are refused",
        arguments: [
            "eyJhbGciOiJub25lIn0=", "eyJh bGci", "ab+/", "ab\n", "A", "AB==", "AR", "AAB", "-_9",
        ])
    func refused(text: String) {
        #expect(Base64URL.decode(text) == nil)
    }

    @Test("Base64urlUInt forbids leading zero octets and the empty string")
    func unsignedInteger() {
        #expect(Base64URL.decodeUInt("AQAB") == [1, 0, 1])
        #expect(Base64URL.decodeUInt("AAEAAQ") == nil)
        #expect(Base64URL.decodeUInt("") == nil)
        #expect(Base64URL.decodeUInt("AA") == [0])
    }
}
