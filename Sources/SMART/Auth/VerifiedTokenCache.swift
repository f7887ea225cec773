// A bounded cache of validation results keyed by HMAC-SHA-256 of the token under a per-process random key:
// the token text is never stored, and keys cannot be precomputed by anyone else. Entries live until the
// token's expiry (or a shorter TTL for introspection answers).

import GatewayCrypto
import Synchronization

final class VerifiedTokenCache: Sendable {
    private struct Entry {
        let result: Result<Principal, BearerError>
        let until: Double
    }

    private let capacity: Int
    private let secret = SecureRandom.bytes(32)
    private let entries = Mutex<[[UInt8]: Entry]>([:])

    init(capacity: Int) { self.capacity = max(capacity, 1) }

    func key(for token: String) -> [UInt8] { HMAC.sha256(key: secret, message: Array(token.utf8)) }

    /// The cached result, if present and not expired.
    func lookup(_ key: [UInt8], now: Double) -> Result<Principal, BearerError>? {
        entries.withLock { entries in
            guard let entry = entries[key] else { return nil }
            guard now < entry.until else {
                entries[key] = nil
                return nil
            }
            return entry.result
        }
    }

    /// Stores a result; when full, drops expired entries first, then an arbitrary one.
    func store(_ key: [UInt8], _ result: Result<Principal, BearerError>, until: Double, now: Double) {
        entries.withLock { entries in
            if entries.count >= capacity, entries[key] == nil {
                entries = entries.filter { $0.value.until > now }
                if entries.count >= capacity, let victim = entries.keys.first { entries[victim] = nil }
            }
            entries[key] = Entry(result: result, until: until)
        }
    }

    var count: Int { entries.withLock { $0.count } }
}
