// A raw HTTP/2 frame writer and reader for tests: frames are built by hand (RFC 9113 §4.1) and header
// blocks use HPACK literals without indexing (RFC 7541 §6.2.2), so a test can send exactly the bytes a
// hostile client would, including ones a real HTTP/2 library refuses to produce. Responses are decoded
// with nghttp2's HPACK inflater.

import CNGHTTP2
import Testing

/// One received frame.
struct H2Frame: Sendable {
    var type: UInt8
    var flags: UInt8
    var stream: UInt32
    var payload: [UInt8]

    /// The error code of RST_STREAM (payload 0..<4) or GOAWAY (payload 4..<8).
    var errorCode: UInt32? {
        switch type {
        case 0x3 where payload.count >= 4: return H2.uint32(payload, at: 0)
        case 0x7 where payload.count >= 8: return H2.uint32(payload, at: 4)
        default: return nil
        }
    }
}

enum H2 {
    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    static func frame(_ type: UInt8, flags: UInt8 = 0, stream: UInt32 = 0, _ payload: [UInt8] = []) -> [UInt8] {
        let n = payload.count
        var out: [UInt8] = [UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff), type, flags]
        out += bytes32(stream & 0x7fff_ffff)
        return out + payload
    }

    static func bytes32(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)]
    }

    static func uint32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        bytes[offset..<offset + 4].reduce(0) { $0 << 8 | UInt32($1) }
    }

    static func settings(_ entries: [(UInt16, UInt32)] = []) -> [UInt8] {
        frame(0x4, entries.flatMap { [UInt8($0.0 >> 8), UInt8($0.0 & 0xff)] + bytes32($0.1) })
    }

    static let settingsAck = frame(0x4, flags: 0x1)

    /// The client connection preface plus an empty SETTINGS frame.
    static let clientStart = preface + settings()

    /// RFC 7541 §5.1 integer with an N-bit prefix; `first` carries the pattern bits.
    static func integer(_ value: Int, prefixBits: Int, first: UInt8) -> [UInt8] {
        let limit = (1 << prefixBits) - 1
        if value < limit { return [first | UInt8(value)] }
        var out: [UInt8] = [first | UInt8(limit)]
        var rest = value - limit
        while rest >= 128 {
            out.append(UInt8(rest % 128 + 128))
            rest /= 128
        }
        out.append(UInt8(rest))
        return out
    }

    /// A header block of literals without indexing, new names, no Huffman coding.
    static func block(_ fields: [(String, String)]) -> [UInt8] {
        var out: [UInt8] = []
        for (name, value) in fields {
            out.append(0x00)
            out += integer(name.utf8.count, prefixBits: 7, first: 0) + Array(name.utf8)
            out += integer(value.utf8.count, prefixBits: 7, first: 0) + Array(value.utf8)
        }
        return out
    }

    static func requestFields(
        method: String = "GET", path: String = "/fhir/metadata", authority: String = "gw.example:8443",
        extra: [(String, String)] = []
    ) -> [(String, String)] {
        [(":method", method), (":scheme", "https"), (":authority", authority), (":path", path)] + extra
    }

    static func headers(stream: UInt32, _ fields: [(String, String)], endStream: Bool = true, endHeaders: Bool = true)
        -> [UInt8]
    {
        frame(0x1, flags: (endStream ? 0x1 : 0) | (endHeaders ? 0x4 : 0), stream: stream, block(fields))
    }

    static func continuation(stream: UInt32, _ block: [UInt8], endHeaders: Bool) -> [UInt8] {
        frame(0x9, flags: endHeaders ? 0x4 : 0, stream: stream, block)
    }

    static func data(stream: UInt32, _ bytes: [UInt8], endStream: Bool = true) -> [UInt8] {
        frame(0x0, flags: endStream ? 0x1 : 0, stream: stream, bytes)
    }

    static func rst(stream: UInt32, code: UInt32 = 0x8) -> [UInt8] { frame(0x3, stream: stream, bytes32(code)) }

    static func ping(_ n: UInt8 = 1) -> [UInt8] { frame(0x6, [n, 0, 0, 0, 0, 0, 0, 0]) }

    static func windowUpdate(stream: UInt32, _ increment: UInt32) -> [UInt8] {
        frame(0x8, stream: stream, bytes32(increment))
    }

    /// Splits a byte string into frames; skips a leading client preface. Incomplete tails are ignored.
    static func parse(_ bytes: [UInt8]) -> [H2Frame] {
        var frames: [H2Frame] = []
        var i = bytes.starts(with: preface) ? preface.count : 0
        while i + 9 <= bytes.count {
            let length = Int(bytes[i]) << 16 | Int(bytes[i + 1]) << 8 | Int(bytes[i + 2])
            guard i + 9 + length <= bytes.count else { break }
            let stream = uint32(bytes, at: i + 5) & 0x7fff_ffff
            let payload = Array(bytes[i + 9..<i + 9 + length])
            frames.append(H2Frame(type: bytes[i + 3], flags: bytes[i + 4], stream: stream, payload: payload))
            i += 9 + length
        }
        return frames
    }
}

/// Decodes the server's HPACK header blocks in order (the dynamic table spans the connection).
final class H2HeaderDecoder {
    private var inflater: OpaquePointer?

    init() { nghttp2_hd_inflate_new(&inflater) }
    deinit { nghttp2_hd_inflate_del(inflater) }

    /// Name/value pairs of one complete header block (HEADERS payload without padding or priority).
    func decode(_ block: [UInt8]) -> [(String, String)] {
        var fields: [(String, String)] = []
        var input = block[...]
        while true {
            var nv = nghttp2_nv()
            var flags: Int32 = 0
            let used = input.withUnsafeBufferPointer { buffer in
                nghttp2_hd_inflate_hd2(inflater, &nv, &flags, buffer.baseAddress, buffer.count, 1)
            }
            guard used >= 0 else { return fields }
            input = input.dropFirst(used)
            if flags & Int32(NGHTTP2_HD_INFLATE_EMIT.rawValue) != 0 {
                fields.append((
                    String(decoding: UnsafeBufferPointer(start: nv.name, count: nv.namelen), as: UTF8.self),
                    String(decoding: UnsafeBufferPointer(start: nv.value, count: nv.valuelen), as: UTF8.self)))
            }
            if flags & Int32(NGHTTP2_HD_INFLATE_FINAL.rawValue) != 0 {
                nghttp2_hd_inflate_end_headers(inflater)
                return fields
            }
            if used == 0 && flags & Int32(NGHTTP2_HD_INFLATE_EMIT.rawValue) == 0 { return fields }
        }
    }
}

@Suite("HTTP/2 test frame writer")
struct HTTP2FrameWriterTests {
    @Test("HPACK integers use the RFC 7541 §5.1 continuation encoding")
    func integers() {
        // RFC 7541 C.1.2: 1337 with a 5-bit prefix.
        #expect(H2.integer(1337, prefixBits: 5, first: 0) == [31, 154, 10])
        #expect(H2.integer(10, prefixBits: 5, first: 0) == [10])
    }

    @Test("frames written by hand parse back with their header fields")
    func roundTrip() {
        let bytes = H2.clientStart + H2.headers(stream: 1, H2.requestFields()) + H2.rst(stream: 1, code: 8)
        let frames = H2.parse(bytes)
        #expect(frames.map(\.type) == [0x4, 0x1, 0x3])
        #expect(frames[1].stream == 1 && frames[1].flags == 0x5)
        #expect(frames[2].errorCode == 8)
        let decoded = H2HeaderDecoder().decode(frames[1].payload)
        #expect(decoded.first?.0 == ":method" && decoded.first?.1 == "GET")
        #expect(decoded.count == 4)
    }
}
