// Random identifiers (request IDs, token `jti`s, audit ids).

import Glibc
import Synchronization

public enum RandomID {
    /// 128 random bits as 32 lowercase hex characters.
    public static func hex128() -> String {
        let bytes = RandomPool.shared.take16()
        return hex(bytes, dashed: false)
    }

    /// A random (version 4) UUID string in lowercase, as FHIR `id`s and request IDs commonly are
    /// (RFC 9562 §5.4: version nibble 4, variant bits 10).
    public static func uuid() -> String {
        var bytes = RandomPool.shared.take16()
        bytes.6 = bytes.6 & 0x0f | 0x40
        bytes.8 = bytes.8 & 0x3f | 0x80
        return hex(bytes, dashed: true)
    }

    /// Lowercase hex of 16 bytes; `dashed` groups them 8-4-4-4-12 as a UUID.
    private static func hex(_ bytes: RandomPool.Block, dashed: Bool) -> String {
        let digits: StaticString = "0123456789abcdef"
        let capacity = dashed ? 36 : 32
        return withUnsafeBytes(of: bytes) { raw in
            String(unsafeUninitializedCapacity: capacity) { out in
                var at = 0
                for index in 0..<16 {
                    let byte = raw[index]
                    out[at] = digits.utf8Start[Int(byte >> 4)]
                    out[at + 1] = digits.utf8Start[Int(byte & 0x0f)]
                    at += 2
                    if dashed && (index == 3 || index == 5 || index == 7 || index == 9) {
                        out[at] = UInt8(ascii: "-")
                        at += 1
                    }
                }
                return at
            }
        }
    }
}

/// Random bytes from the kernel's CSPRNG (`arc4random_buf`, i.e. getrandom(2)), fetched 4 KiB at a time:
/// a request ID per request used to cost a system call (and Foundation's UUID an open/read/close of
/// /dev/urandom). The bytes are the same CSPRNG output, only fetched ahead.
final class RandomPool: Sendable {
    typealias Block = (
        UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8
    )

    static let shared = RandomPool()
    private static let poolBytes = 4096

    private struct State {
        let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: RandomPool.poolBytes, alignment: 16)
        var offset = RandomPool.poolBytes
    }

    private let state = Mutex(State())

    /// 16 bytes never handed out before; the used part of the pool is wiped.
    func take16() -> Block {
        state.withLock { state in
            if state.offset + 16 > Self.poolBytes {
                arc4random_buf(state.bytes.baseAddress!, Self.poolBytes)
                state.offset = 0
            }
            let start = state.bytes.baseAddress! + state.offset
            let block = start.loadUnaligned(as: Block.self)
            start.initializeMemory(as: UInt8.self, repeating: 0, count: 16)
            state.offset += 16
            return block
        }
    }
}

/// A request ID is accepted from a client only when it is short and made of safe characters
/// (letters, digits, `-`, `_`, `.`, `:`), so it can never inject into logs, headers or audit records.
public enum RequestID {
    public static let maxLength = 128

    public static func isWellFormed(_ value: String) -> Bool {
        guard !value.isEmpty, value.utf8.count <= maxLength else { return false }
        return value.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == 0x2D || byte == 0x5F || byte == 0x2E || byte == 0x3A
        }
    }
}
