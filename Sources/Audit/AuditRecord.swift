// One line of the audit chain (docs/audit.md "Record format"):
//
//     {"seq":N,"prev":"<hex>","hash":"<hex>","event":{...}}
//
// hash = SHA-256 over the canonical JSON (CanonicalJSON) of {"event":…,"prev":…,"seq":N}; prev is the hash
// of the record before (64 zeros before the first record). A line must be byte-for-byte the canonical form
// of its own content, so that any changed byte is detected, even one the JSON parser would not notice.

public import GatewayCore
import GatewayCrypto

#if canImport(Glibc)
    import Glibc
#endif

/// A parsed, self-consistent audit record.
public struct AuditRecord: Sendable, Hashable {
    /// The record's position in the chain, from 1.
    public var seq: UInt64
    /// The hash of the previous record (64 zeros before the first).
    public var prev: String
    /// This record's hash; also the AuditEvent id when shipped.
    public var hash: String
    /// The AuditEvent.
    public var event: JSONValue

    /// The `prev` of the very first record.
    public static let genesisHash = String(repeating: "0", count: 64)

    /// Creates a record (use the sink to make one that is chained).
    public init(seq: UInt64, prev: String, hash: String, event: JSONValue) {
        self.seq = seq
        self.prev = prev
        self.hash = hash
        self.event = event
    }
}

/// Encoding and decoding of record lines.
enum RecordCodec {
    /// Returns the hash (hex) of a record with the given content; `event` is already canonical bytes.
    static func hash(seq: UInt64, prev: String, event: [UInt8]) -> String {
        var input = [UInt8]()
        input.reserveCapacity(event.count + 100)
        // Canonical member order is by name: event, prev, seq.
        input.append(contentsOf: #"{"event":"#.utf8)
        input.append(contentsOf: event)
        input.append(contentsOf: #","prev":""#.utf8)
        input.append(contentsOf: prev.utf8)
        input.append(contentsOf: #"","seq":"#.utf8)
        input.append(contentsOf: String(seq).utf8)
        input.append(UInt8(ascii: "}"))
        return Digest.hex(Digest.sha256(input))
    }

    /// Appends the line for a record (with its trailing newline) to `out`.
    static func appendLine(seq: UInt64, prev: String, hash: String, event: [UInt8], to out: inout [UInt8]) {
        out.append(contentsOf: #"{"seq":"#.utf8)
        out.append(contentsOf: String(seq).utf8)
        out.append(contentsOf: #","prev":""#.utf8)
        out.append(contentsOf: prev.utf8)
        out.append(contentsOf: #"","hash":""#.utf8)
        out.append(contentsOf: hash.utf8)
        out.append(contentsOf: #"","event":"#.utf8)
        out.append(contentsOf: event)
        out.append(contentsOf: "}\n".utf8)
    }

    /// Why a line is not a valid record.
    enum Problem: Error, Equatable, CustomStringConvertible {
        case notJSON
        case badShape(String)
        case hashMismatch
        case notCanonical

        var description: String {
            switch self {
            case .notJSON: return "not valid JSON"
            case .badShape(let what): return "not a record: \(what)"
            case .hashMismatch: return "hash does not match the record's content (content changed)"
            case .notCanonical: return "bytes differ from the record's canonical form (bytes changed)"
            }
        }
    }

    /// Parses and checks one line (without its newline): shape, own hash, canonical bytes. Chain links
    /// (seq order, prev) are the caller's business.
    static func decode(_ line: ArraySlice<UInt8>) -> Result<AuditRecord, Problem> {
        guard let value = try? JSONValue.parse(Array(line)), case .object(let object) = value else {
            return .failure(.notJSON)
        }
        guard object.members.count == 4 else { return .failure(.badShape("expected seq, prev, hash, event")) }
        guard case .number(let seqText)? = object["seq"], let seq = UInt64(seqText), seq > 0,
            String(seq) == seqText
        else { return .failure(.badShape("seq")) }
        guard let prev = object["prev"]?.stringValue, isHash(prev) else { return .failure(.badShape("prev")) }
        guard let hash = object["hash"]?.stringValue, isHash(hash) else { return .failure(.badShape("hash")) }
        guard let event = object["event"], case .object = event else { return .failure(.badShape("event")) }

        let eventBytes = CanonicalJSON.serialize(event)
        guard self.hash(seq: seq, prev: prev, event: eventBytes) == hash else { return .failure(.hashMismatch) }
        var canonical = [UInt8]()
        appendLine(seq: seq, prev: prev, hash: hash, event: eventBytes, to: &canonical)
        let same =
            canonical.count == line.count + 1
            && canonical.withUnsafeBytes { a in
                line.withUnsafeBytes { b in memcmp(a.baseAddress!, b.baseAddress!, b.count) == 0 }
            }
        guard same else { return .failure(.notCanonical) }
        return .success(AuditRecord(seq: seq, prev: prev, hash: hash, event: event))
    }

    /// 64 lowercase hex digits.
    static func isHash(_ s: String) -> Bool {
        s.utf8.count == 64 && s.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }
}

/// Names and listing of chain files: `<prefix>-<first seq, 20 digits>.ndjson`, so that name order is chain
/// order.
enum ChainFiles {
    static func name(prefix: String, firstSeq: UInt64) -> String {
        let digits = String(firstSeq)
        return prefix + "-" + String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".ndjson"
    }

    /// The first seq encoded in a chain file name, or nil when `name` is not a chain file of `prefix`.
    static func firstSeq(of name: String, prefix: String) -> UInt64? {
        let head = prefix + "-"
        guard name.hasPrefix(head), name.hasSuffix(".ndjson") else { return nil }
        let digits = name.dropFirst(head.count).dropLast(".ndjson".count)
        guard digits.count == 20, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber) else { return nil }
        return UInt64(digits)
    }
}
