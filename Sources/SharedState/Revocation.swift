// Revocation of access tokens (by `jti`) and of every token of a client (issue #8 item 3). The token
// validator asks `isRevoked` on every request, cached tokens included, so the answer comes from a local
// table and never from the network. With Redis, the table is refreshed by the background worker (every
// 250 ms, well inside the one-second propagation target) and revocations are written to Redis at once.
//
// Redis unreachable: the last-known table stays in force (revocations are only ever added, so it can only
// be incomplete by what other instances revoked meanwhile); a revocation made here applies here at once,
// is reported as not propagated, and is written to Redis when it answers again. `/readyz` fails meanwhile,
// which takes the instance out of rotation. Entries that Redis lost (restart without persistence) are
// written back from the table of any instance that still knows them.

import Dispatch
public import SMART
import Synchronization

/// What a revocation applies to.
public enum RevocationTarget: Sendable, Hashable {
    /// One access token, by its `jti` claim.
    case token(jti: String)
    /// Every token of a client, whatever its `jti`.
    case client(id: String)
}

/// Where a revocation took effect.
public enum RevocationOutcome: Sendable, Equatable {
    /// On every instance (within the refresh interval).
    case applied
    /// On this instance only, for now; the reason the shared store did not take it. It is retried.
    case localOnly(String)
}

/// A revocation list that can also revoke.
public protocol RevocationStore: RevocationList {
    /// Revokes `target` until `until` (seconds since the epoch); afterwards the entry is dropped.
    func revoke(_ target: RevocationTarget, until: Double) -> RevocationOutcome
    /// The revocations in force, with their end times.
    var active: [RevocationTarget: Double] { get }
}

/// The local table of revocations: thread-safe, read on every request.
final class RevocationTable: Sendable {
    private struct Entries {
        var tokens: [String: Double] = [:]
        var clients: [String: Double] = [:]
    }

    private let entries = Mutex(Entries())
    /// Entries held; lets the common case (nothing revoked) skip the lock.
    private let count = Atomic<Int>(0)

    func isRevoked(jti: String?, clientID: String, now: Double) -> Bool {
        guard count.load(ordering: .acquiring) > 0 else { return false }
        return entries.withLock { entries in
            if let until = entries.clients[clientID], until > now { return true }
            if let jti, let until = entries.tokens[jti], until > now { return true }
            return false
        }
    }

    /// Adds an entry, keeping the later end time when it is already present.
    func insert(_ target: RevocationTarget, until: Double) {
        entries.withLock { entries in
            switch target {
            case .token(let jti): entries.tokens[jti] = max(entries.tokens[jti] ?? until, until)
            case .client(let id): entries.clients[id] = max(entries.clients[id] ?? until, until)
            }
            count.store(entries.tokens.count + entries.clients.count, ordering: .releasing)
        }
    }

    /// Drops entries that have ended.
    func prune(now: Double) {
        entries.withLock { entries in
            entries.tokens = entries.tokens.filter { $0.value > now }
            entries.clients = entries.clients.filter { $0.value > now }
            count.store(entries.tokens.count + entries.clients.count, ordering: .releasing)
        }
    }

    var all: [RevocationTarget: Double] {
        entries.withLock { entries in
            var all: [RevocationTarget: Double] = [:]
            for (jti, until) in entries.tokens { all[.token(jti: jti)] = until }
            for (id, until) in entries.clients { all[.client(id: id)] = until }
            return all
        }
    }
}

/// Revocations for one instance.
public final class InMemoryRevocationList: RevocationStore {
    private let table = RevocationTable()
    private let clock: @Sendable () -> Double

    public init(clock: @escaping @Sendable () -> Double) { self.clock = clock }

    public func isRevoked(jti: String?, clientID: String) -> Bool {
        table.isRevoked(jti: jti, clientID: clientID, now: clock())
    }

    public func revoke(_ target: RevocationTarget, until: Double) -> RevocationOutcome {
        table.prune(now: clock())
        table.insert(target, until: until)
        return .applied
    }

    public var active: [RevocationTarget: Double] { table.all }
}

/// Revocations shared through Redis: two sorted sets (member = jti or client id, score = end time) and a
/// version counter bumped by every revocation, so that an unchanged list costs one GET per refresh.
public final class RedisRevocationList: RevocationStore {
    private let client: RedisClient
    private let clock: @Sendable () -> Double
    private let table = RevocationTable()
    private let tokensKey: String
    private let clientsKey: String
    private let versionKey: String

    private struct Sync {
        /// Revocations Redis has not taken yet.
        var pending: [RevocationTarget: Double] = [:]
        var version: String?
        /// When the sets were last read whole (monotonic nanoseconds).
        var lastFullRead: UInt64 = 0
    }

    private let sync = Mutex(Sync())
    /// A full read at least this often, even when the version is unchanged.
    static let fullReadIntervalNs: UInt64 = 10_000_000_000

    public init(client: RedisClient, prefix: String = SharedStores.defaultPrefix, clock: @escaping @Sendable () -> Double) {
        self.client = client
        self.clock = clock
        tokensKey = prefix + "revoked:tokens"
        clientsKey = prefix + "revoked:clients"
        versionKey = prefix + "revoked:version"
    }

    public func isRevoked(jti: String?, clientID: String) -> Bool {
        table.isRevoked(jti: jti, clientID: clientID, now: clock())
    }

    public var active: [RevocationTarget: Double] { table.all }

    /// Applies locally at once and writes to Redis (bounded by the client's deadline).
    public func revoke(_ target: RevocationTarget, until: Double) -> RevocationOutcome {
        table.insert(target, until: until)
        if let failure = write([target: until]) {
            sync.withLock { $0.pending[target] = max($0.pending[target] ?? until, until) }
            return .localOnly(failure.reason)
        }
        return .applied
    }

    /// One write of several revocations; nil on success.
    private func write(_ revocations: [RevocationTarget: Double]) -> RedisFailure? {
        let now = clock()
        var commands: [[String]] = []
        for (target, until) in revocations {
            switch target {
            case .token(let jti): commands.append(["ZADD", tokensKey, String(until), jti])
            case .client(let id): commands.append(["ZADD", clientsKey, String(until), id])
            }
        }
        commands.append(["ZREMRANGEBYSCORE", tokensKey, "-inf", String(now)])
        commands.append(["ZREMRANGEBYSCORE", clientsKey, "-inf", String(now)])
        // The version is bumped after the sets change, so a reader that sees it also sees them.
        commands.append(["INCR", versionKey])
        switch client.execute(commands) {
        case .success(let replies):
            for case .error(let message) in replies { return RedisFailure(message) }
            return nil
        case .failure(let failure):
            return failure
        }
    }

    /// Pushes pending revocations and reloads the table when the version changed. Called by the background
    /// worker; blocking within the client's deadline.
    public func refresh() {
        let now = clock()
        table.prune(now: now)
        let pending = sync.withLock { $0.pending.filter { $0.value > now } }
        if !pending.isEmpty {
            guard write(pending) == nil else { return }
            sync.withLock { sync in
                for (target, until) in pending where sync.pending[target] == until { sync.pending[target] = nil }
            }
        }
        guard case .success(let versionReply) = client.execute([["GET", versionKey]]) else { return }
        let version = versionReply.first?.text
        let monotonic = DispatchTime.now().uptimeNanoseconds
        let due = sync.withLock { sync in
            sync.version != version || version == nil || monotonic - sync.lastFullRead >= Self.fullReadIntervalNs
        }
        guard due else { return }
        let floor = String(now)
        let read = client.execute([
            ["ZRANGEBYSCORE", tokensKey, "(" + floor, "+inf", "WITHSCORES"],
            ["ZRANGEBYSCORE", clientsKey, "(" + floor, "+inf", "WITHSCORES"],
        ])
        guard case .success(let replies) = read, replies.count == 2,
              let tokens = Self.pairs(replies[0]), let clients = Self.pairs(replies[1])
        else { return }
        var fetched: [RevocationTarget: Double] = [:]
        for (jti, until) in tokens { fetched[.token(jti: jti)] = until }
        for (id, until) in clients { fetched[.client(id: id)] = until }
        for (target, until) in fetched { table.insert(target, until: until) }
        // Entries this instance knows but Redis lost are written back on the next refresh.
        let lost = table.all.filter { target, until in until > now && fetched[target] == nil }
        sync.withLock { sync in
            sync.version = version
            sync.lastFullRead = monotonic
            for (target, until) in lost { sync.pending[target] = max(sync.pending[target] ?? until, until) }
        }
    }

    /// `[member, score, member, score, ...]` as pairs; nil for any other shape.
    static func pairs(_ reply: RedisReply) -> [(String, Double)]? {
        guard case .array(let items) = reply, items.count % 2 == 0 else { return nil }
        var pairs: [(String, Double)] = []
        for index in stride(from: 0, to: items.count, by: 2) {
            guard let member = items[index].text, let score = items[index + 1].text.flatMap(Double.init) else {
                return nil
            }
            pairs.append((member, score))
        }
        return pairs
    }
}
