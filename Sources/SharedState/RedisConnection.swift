// One blocking hiredis 0.14 connection (C-INTEROP pitfall 12: the pre-1.0 API, no RESP3, no TLS). Commands go
// through `redisAppendCommandArgv` (binary-safe arguments, no format strings) and are pipelined: every
// command of a batch is written at once, then the replies are read in order. Socket reads and writes are
// bounded by `redisSetTimeout`; a timed-out or failed connection is out of step with the server and is
// never reused.

import CHiredis
import Foundation
import Glibc

/// A decoded RESP2 reply.
public enum RedisReply: Sendable, Equatable {
    case status(String)
    case error(String)
    case integer(Int64)
    case bulk([UInt8])
    case null
    case array([RedisReply])

    /// A bulk or status reply as text.
    public var text: String? {
        switch self {
        case .bulk(let bytes): String(decoding: bytes, as: UTF8.self)
        case .status(let text): text
        default: nil
        }
    }
}

/// Why a Redis operation produced no answer.
public struct RedisFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// Where and how to reach Redis: `redis://[:password@]host[:port][/db]`.
public struct RedisEndpoint: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var password: String?
    public var database: Int

    /// Parses a `redis://` URL. TLS (`rediss://`) is not offered by hiredis 0.14.
    public init(url: String) throws(RedisFailure) {
        guard url.hasPrefix("redis://"), let parts = URLComponents(string: url), let host = parts.host, !host.isEmpty
        else { throw RedisFailure("\(Self.redacted(url)): not a redis://host:port URL") }
        self.host = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        port = parts.port ?? 6379
        guard (1...65535).contains(port) else { throw RedisFailure("\(Self.redacted(url)): bad port") }
        password = parts.password  // already percent-decoded by URLComponents
        let path = parts.path.hasPrefix("/") ? String(parts.path.dropFirst()) : parts.path
        guard let database = path.isEmpty ? 0 : Int(path), database >= 0 else {
            throw RedisFailure("\(Self.redacted(url)): the path must be a database number")
        }
        self.database = database
    }

    /// The URL without its password, for logs and `/readyz`.
    public var display: String { "redis://\(host.contains(":") ? "[\(host)]" : host):\(port)/\(database)" }

    static func redacted(_ url: String) -> String {
        guard let at = url.lastIndex(of: "@"), let scheme = url.range(of: "://") else { return url }
        return String(url[..<scheme.upperBound]) + "***" + String(url[at...])
    }
}

/// One connection.
// @unchecked Sendable: not thread-safe by itself; the pool hands it to one thread at a time and takes it
// back under its mutex, so no two threads ever use one context concurrently.
final class RedisConnection: @unchecked Sendable {
    private let context: UnsafeMutablePointer<redisContext>

    /// Connects, bounded by `timeoutMs` for the TCP connect and each later socket operation, then
    /// authenticates and selects the database.
    init(endpoint: RedisEndpoint, timeoutMs: Int) throws(RedisFailure) {
        let timeout = Self.makeTimeval(milliseconds: timeoutMs)
        guard let context = redisConnectWithTimeout(endpoint.host, Int32(endpoint.port), timeout) else {
            throw RedisFailure("cannot allocate a hiredis context")
        }
        if context.pointee.err != 0 {
            let reason = Self.errorText(context)
            redisFree(context)
            throw RedisFailure("connect \(endpoint.host):\(endpoint.port): \(reason)")
        }
        guard redisSetTimeout(context, timeout) == REDIS_OK else {
            redisFree(context)
            throw RedisFailure("cannot set the socket timeout")
        }
        // From here on, deinit frees the context, also when this initializer throws.
        self.context = context
        _ = redisEnableKeepAlive(context)
        var setup: [[String]] = []
        if let password = endpoint.password { setup.append(["AUTH", password]) }
        if endpoint.database != 0 { setup.append(["SELECT", String(endpoint.database)]) }
        guard !setup.isEmpty else { return }
        for case .error(let message) in try pipeline(setup) {
            throw RedisFailure("connection setup refused: \(message)")
        }
    }

    deinit { redisFree(context) }

    /// Bounds every later socket read and write.
    func setTimeout(milliseconds: Int) throws(RedisFailure) {
        guard redisSetTimeout(context, Self.makeTimeval(milliseconds: milliseconds)) == REDIS_OK else {
            throw RedisFailure("cannot set the socket timeout")
        }
    }

    /// Sends every command, then reads one reply per command. Error replies are returned, not thrown;
    /// a thrown failure means the connection must be discarded.
    func pipeline(_ commands: [[String]]) throws(RedisFailure) -> [RedisReply] {
        for command in commands {
            guard append(command) else { throw RedisFailure("write: \(Self.errorText(context))") }
        }
        var replies: [RedisReply] = []
        replies.reserveCapacity(commands.count)
        for _ in commands {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(context, &raw) == REDIS_OK, let raw else {
                throw RedisFailure("read: \(Self.errorText(context))")
            }
            let reply = raw.assumingMemoryBound(to: redisReply.self)
            replies.append(Self.decode(reply))
            freeReplyObject(raw)
        }
        return replies
    }

    /// Formats one command into hiredis's output buffer (it copies the arguments).
    private func append(_ arguments: [String]) -> Bool {
        var bytes: [UInt8] = []
        var lengths: [Int] = []
        for argument in arguments {
            bytes.append(contentsOf: argument.utf8)
            lengths.append(argument.utf8.count)
        }
        if bytes.isEmpty { bytes.append(0) }  // a valid base address even when every argument is empty
        return bytes.withUnsafeBufferPointer { buffer in
            let base = UnsafeRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self)
            var offset = 0
            var pointers: [UnsafePointer<CChar>?] = []
            for length in lengths {
                pointers.append(base + offset)
                offset += length
            }
            return pointers.withUnsafeMutableBufferPointer { argv in
                lengths.withUnsafeBufferPointer { argvlen in
                    redisAppendCommandArgv(context, Int32(arguments.count), argv.baseAddress, argvlen.baseAddress)
                        == REDIS_OK
                }
            }
        }
    }

    private static func decode(_ reply: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let value = reply.pointee
        switch value.type {
        case REDIS_REPLY_STRING:
            return .bulk(bytes(value.str, value.len))
        case REDIS_REPLY_STATUS:
            return .status(String(decoding: bytes(value.str, value.len), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            return .error(String(decoding: bytes(value.str, value.len), as: UTF8.self))
        case REDIS_REPLY_INTEGER:
            return .integer(value.integer)
        case REDIS_REPLY_ARRAY:
            return .array((0..<Int(value.elements)).map { decode(value.element[$0]!) })
        default:
            return .null
        }
    }

    private static func bytes(_ pointer: UnsafeMutablePointer<CChar>?, _ count: Int) -> [UInt8] {
        guard let pointer, count > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    private static func errorText(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { raw in
            let bytes = raw.prefix { $0 != 0 }
            return bytes.isEmpty ? "error \(context.pointee.err)" : String(decoding: bytes, as: UTF8.self)
        }
    }

    private static func makeTimeval(milliseconds: Int) -> timeval {
        timeval(tv_sec: milliseconds / 1000, tv_usec: Int((milliseconds % 1000) * 1000))
    }
}
