import Testing
@testable import GatewayHTTP

/// A small deterministic generator (SplitMix64) so failures reproduce.
private struct SplitMix {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}

@Suite("Decoder robustness")
struct DecoderRobustnessTests {
    static let stream = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
        + "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world"
        + "PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n1;e=f\r\nd\r\n0\r\n\r\n"
        + "DELETE /d HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"

    @Test("any split of a pipelined stream yields the same requests")
    func splitInvariance() {
        let bytes = Array(Self.stream.utf8)
        var random = SplitMix(state: 42)
        for _ in 0..<300 {
            var decoder = HTTP1RequestDecoder(limits: HTTPServerLimits())
            var buffer = ByteAccumulator()
            var got: [String] = []
            var offset = 0
            while offset < bytes.count {
                let n = min(bytes.count - offset, 1 + random.below(40))
                buffer.append(Array(bytes[offset..<(offset + n)]))
                offset += n
                while case .request(let r, _) = decoder.next(&buffer) {
                    got.append("\(r.method) \(r.target) \(String(decoding: r.body, as: UTF8.self))")
                }
            }
            #expect(got == ["GET /a ", "POST /b hello world", "PUT /c abcd", "DELETE /d "])
        }
    }

    @Test("mutated requests never crash and always end in a request, a failure or a wait")
    func mutations() {
        let base = Array(Self.stream.utf8)
        let alphabet = Array(" \r\n:;,\t\u{0}\u{7F}0123456789aAfF-/HTTP".utf8) + [0x80, 0xFF, 0xC3]
        var random = SplitMix(state: 7)
        var failures = 0, requests = 0
        for _ in 0..<2000 {
            var bytes = base
            for _ in 0..<(1 + random.below(4)) {
                let at = random.below(bytes.count)
                switch random.below(3) {
                case 0: bytes[at] = alphabet[random.below(alphabet.count)]
                case 1: bytes.insert(alphabet[random.below(alphabet.count)], at: at)
                default: bytes.remove(at: at)
                }
            }
            var decoder = HTTP1RequestDecoder(limits: HTTPServerLimits(maxBodyBytes: 1024))
            var buffer = ByteAccumulator()
            buffer.append(bytes)
            loop: while true {
                switch decoder.next(&buffer) {
                case .request: requests += 1
                case .sendContinue: continue
                case .failed: failures += 1; break loop
                case .needMore: break loop
                }
            }
        }
        #expect(failures > 1000)
        #expect(requests > 0)
    }
}
