import Testing
@testable import GatewayHTTP

@Suite("gzip")
struct GzipTests {
    @Test("compress then decompress round-trips")
    func roundTrip() throws {
        let text = Array(String(repeating: "{\"resourceType\":\"Bundle\"}", count: 1000).utf8)
        let packed = Gzip.compress(text)
        #expect(packed.count < text.count / 10)
        #expect(packed.prefix(2) == [0x1F, 0x8B])
        #expect(try Gzip.decompress(packed, maxOutputBytes: text.count) == text)
    }

    @Test("a zip bomb fails cleanly at the output limit")
    func bomb() {
        let zeros = [UInt8](repeating: 0, count: 20 * 1024 * 1024)
        let packed = Gzip.compress(zeros, level: 9)
        #expect(packed.count < 100 * 1024)
        #expect(throws: GzipError.outputTooLarge) { try Gzip.decompress(packed, maxOutputBytes: 1024 * 1024) }
    }

    @Test("truncated, corrupt and trailing-garbage input is refused")
    func malformed() {
        let packed = Gzip.compress(Array("hello, world".utf8))
        #expect(throws: GzipError.truncated) { try Gzip.decompress(Array(packed.dropLast(10)), maxOutputBytes: 100) }
        #expect(throws: GzipError.truncated) { try Gzip.decompress([], maxOutputBytes: 100) }
        var corrupt = packed
        corrupt[corrupt.count - 6] ^= 0xFF  // CRC32
        #expect(throws: GzipError.invalidData) { try Gzip.decompress(corrupt, maxOutputBytes: 100) }
        #expect(throws: GzipError.invalidData) { try Gzip.decompress(packed + [1, 2, 3], maxOutputBytes: 100) }
        #expect(throws: GzipError.invalidData) { try Gzip.decompress(Array("plain".utf8), maxOutputBytes: 100) }
    }

    @Test("concatenated members decompress to the concatenation")
    func members() throws {
        let both = Gzip.compress(Array("abc".utf8)) + Gzip.compress(Array("def".utf8))
        #expect(try Gzip.decompress(both, maxOutputBytes: 100) == Array("abcdef".utf8))
    }
}
