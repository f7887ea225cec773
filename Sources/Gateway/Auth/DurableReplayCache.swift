// Client-assertion replay protection that survives a restart without Redis (attack case TOK-01 (d)).
//
// SMART 2.2 backend-services: the AS SHALL reject a `jti` already seen for the same `iss` within the
// assertion's lifetime; RFC 7523 §3 item 7 lets the AS keep used ids until `exp`. An in-memory store forgets
// them when the process restarts, so a captured assertion would mint a second token. With
// `shared_state: memory` the used (iss, jti) pairs are therefore also appended to a small file in the audit
// directory and loaded again at start; each line lives until the assertion's `exp` + leeway (entries past
// that are dropped when the file is compacted, at start and whenever it holds twice the live entries).
//
// Durability: the line is written with write(2) before the token is answered, so it survives the gateway
// exiting, crashing or being killed. It is not fsync'ed per request (that would serialize issuance on disk
// flushes): a host crash can lose the last few seconds of entries, and such a replay still needs a captured
// assertion younger than 5 minutes. Deployments that need more use Redis (`shared_state`, issue #8). A
// failed write answers `unavailable` (503): the store fails closed, like the Redis one. The write is one
// small append to the page cache, cheap enough for the event loop that runs the token request.

import Foundation
import GatewayCore
import JOSE
import SMART
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A replay cache kept in memory and mirrored to an append-only file.
final class DurableReplayCache: ReplayCache {
    /// The file's name inside the audit directory.
    static let fileName = "assertion-jti.log"

    private struct Key: Hashable {
        let issuer: String
        let jti: String
    }

    private struct State {
        var entries: [Key: Double]
        var descriptor: Int32
        /// Lines in the file (live or not), to decide when to compact.
        var lines: Int
    }

    let path: String
    private let capacity: Int
    private let clock: @Sendable () -> Double
    private let state: Mutex<State>

    /// Loads the live entries of `path` (if it exists) and rewrites it with only those. When the file cannot
    /// be read or written (e.g. the audit directory is broken), the gateway still starts: every claim then
    /// answers `unavailable` (503, fail closed) and retries opening the file, so the token endpoint recovers
    /// by itself once the directory is writable, without ever overwriting entries it could not read.
    init(path: String, capacity: Int = 100_000, clock: @escaping @Sendable () -> Double, logger: Logger? = nil) {
        self.path = path
        self.capacity = capacity
        self.clock = clock
        var initial = State(entries: [:], descriptor: -1, lines: 0)
        do {
            try Self.load(path, into: &initial, now: clock())
        } catch {
            logger?.error("assertion replay file unavailable; token requests answer 503 until it is", error: error)
        }
        state = Mutex(initial)
    }

    deinit {
        state.withLock { if $0.descriptor >= 0 { _ = close($0.descriptor) } }
    }

    /// Merges the live entries of the file into `state` and rewrites the file with all of them.
    private static func load(_ path: String, into state: inout State, now: Double) throws {
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        if FileManager.default.fileExists(atPath: path) {
            guard let data = FileManager.default.contents(atPath: path) else { throw failure("read", path) }
            for line in data.split(separator: UInt8(ascii: "\n")) {
                // A torn last line (crash mid-write) parses as nothing and is dropped.
                guard let (key, until) = parse(line), until > now else { continue }
                state.entries[key] = max(state.entries[key] ?? 0, until)
            }
        }
        state.entries = state.entries.filter { $0.value > now }
        state.descriptor = try rewrite(path, state.entries)
        state.lines = state.entries.count
    }

    func claim(issuer: String, jti: String, expiresAt: Double) -> ReplayResult {
        let key = Key(issuer: issuer, jti: jti)
        let now = clock()
        return state.withLock { state in
            if state.descriptor < 0 {
                guard (try? Self.load(path, into: &state, now: now)) != nil else { return .unavailable }
            }
            if let until = state.entries[key], until > now { return .replayed }
            if state.entries.count >= capacity {
                state.entries = state.entries.filter { $0.value > now }
                // Refuse rather than forget a live entry: forgetting would re-open replay.
                if state.entries.count >= capacity { return .unavailable }
            }
            // On disk before the caller answers `fresh`.
            guard Self.append(state.descriptor, Self.line(key, expiresAt)) else { return .unavailable }
            state.entries[key] = expiresAt
            state.lines += 1
            if state.lines > max(1024, 2 * state.entries.count) { compact(&state, now: now) }
            return .fresh
        }
    }

    /// Entries held in memory (for tests).
    var count: Int { state.withLock { $0.entries.count } }

    private func compact(_ state: inout State, now: Double) {
        let live = state.entries.filter { $0.value > now }
        // On failure the old file and descriptor stay: it is longer than needed, never missing entries.
        guard let descriptor = try? Self.rewrite(path, live) else { return }
        _ = close(state.descriptor)
        state = State(entries: live, descriptor: descriptor, lines: live.count)
    }

    // MARK: - File format: `<until>\t<base64url iss>\t<base64url jti>\n`

    private static func line(_ key: Key, _ until: Double) -> [UInt8] {
        let text = String(Int64(until.rounded(.up))) + "\t" + Base64URL.encode(key.issuer) + "\t"
            + Base64URL.encode(key.jti) + "\n"
        return Array(text.utf8)
    }

    private static func parse(_ line: Data.SubSequence) -> (Key, Double)? {
        let fields = line.split(separator: UInt8(ascii: "\t"), omittingEmptySubsequences: false)
        guard fields.count == 3, let until = Int64(String(decoding: fields[0], as: UTF8.self)),
            let issuer = Base64URL.decode(fields[1]), let jti = Base64URL.decode(fields[2])
        else { return nil }
        return (Key(issuer: String(decoding: issuer, as: UTF8.self), jti: String(decoding: jti, as: UTF8.self)),
                Double(until))
    }

    /// Writes `entries` to a temporary file, fsyncs it, renames it over `path` and returns an append
    /// descriptor for it.
    private static func rewrite(_ path: String, _ entries: [Key: Double]) throws -> Int32 {
        let temporary = path + ".tmp"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_APPEND, 0o600)
        guard fd >= 0 else { throw failure("create", temporary) }
        var bytes: [UInt8] = []
        for (key, until) in entries { bytes += line(key, until) }
        guard append(fd, bytes), fsync(fd) == 0, rename(temporary, path) == 0 else {
            let error = failure("write", temporary)
            _ = close(fd)
            unlink(temporary)
            throw error
        }
        return fd
    }

    /// Writes all of `bytes` (short writes continued, EINTR retried).
    private static func append(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer in
                write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += written
        }
        return true
    }

    private static func failure(_ operation: String, _ path: String) -> GatewayError {
        GatewayError(
            status: 500, issueType: .exception,
            "replay store: cannot \(operation) \(path): \(String(cString: strerror(errno)))")
    }
}
