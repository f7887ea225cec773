// A small logging facade shaped like swift-log (which cannot be fetched here): value-type `Logger`,
// a `LogHandler` protocol, seven levels, autoclosure messages so that disabled levels cost nothing,
// and dotted metadata keys. Libraries take a `Logger` from their caller; only the composition root logs
// at info or above.

import Foundation
import Synchronization

/// A log line's severity, lowest first.
public enum LogLevel: Int, Sendable, Comparable, CaseIterable, Codable {
    case trace, debug, info, notice, warning, error, critical

    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool { lhs.rawValue < rhs.rawValue }

    /// Parses the configuration spelling (`trace` ... `critical`).
    public init?(name: String) {
        guard let level = LogLevel.allCases.first(where: { "\($0)" == name }) else { return nil }
        self = level
    }
}

/// Metadata attached to a log line. Values are strings; credentials never belong here (see `Redaction`).
public typealias LogMetadata = [String: String]

/// Receives fully formed log records. Implementations must be thread-safe.
public protocol LogHandler: Sendable {
    func log(level: LogLevel, label: String, message: String, metadata: LogMetadata, error: (any Error)?)
}

/// A cheap, copyable logger: a label, a minimum level, bound metadata and a handler.
public struct Logger: Sendable {
    public var label: String
    public var level: LogLevel
    public var metadata: LogMetadata
    public let handler: any LogHandler

    public init(label: String, level: LogLevel = .info, handler: any LogHandler = JSONLineLogHandler.standardError) {
        self.label = label
        self.level = level
        self.metadata = [:]
        self.handler = handler
    }

    /// A logger that drops everything; the default for libraries used without a caller's logger.
    public static let disabled = Logger(label: "disabled", level: .critical, handler: NullLogHandler())

    public subscript(metadataKey key: String) -> String? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Returns a copy with extra bound metadata (for example `request.id`).
    public func with(_ extra: LogMetadata) -> Logger {
        var copy = self
        copy.metadata.merge(extra) { _, new in new }
        return copy
    }

    @inlinable
    public func log(
        _ level: LogLevel, _ message: @autoclosure () -> String, metadata extra: @autoclosure () -> LogMetadata = [:],
        error: (any Error)? = nil
    ) {
        guard level >= self.level else { return }
        var merged = metadata
        let more = extra()
        if !more.isEmpty { merged.merge(more) { _, new in new } }
        handler.log(level: level, label: label, message: message(), metadata: merged, error: error)
    }

    @inlinable public func trace(_ m: @autoclosure () -> String, metadata: @autoclosure () -> LogMetadata = [:]) {
        log(.trace, m(), metadata: metadata())
    }
    @inlinable public func debug(_ m: @autoclosure () -> String, metadata: @autoclosure () -> LogMetadata = [:]) {
        log(.debug, m(), metadata: metadata())
    }
    @inlinable public func info(_ m: @autoclosure () -> String, metadata: @autoclosure () -> LogMetadata = [:]) {
        log(.info, m(), metadata: metadata())
    }
    @inlinable public func notice(_ m: @autoclosure () -> String, metadata: @autoclosure () -> LogMetadata = [:]) {
        log(.notice, m(), metadata: metadata())
    }
    @inlinable public func warning(
        _ m: @autoclosure () -> String, metadata: @autoclosure () -> LogMetadata = [:], error: (any Error)? = nil
    ) {
        log(.warning, m(), metadata: metadata(), error: error)
    }
    @inlinable public func error(
        _ m: @autoclosure () -> String, metadata: @autoclosure () -> LogMetadata = [:], error: (any Error)? = nil
    ) {
        log(.error, m(), metadata: metadata(), error: error)
    }
}

/// Drops every record.
public struct NullLogHandler: LogHandler {
    public init() {}
    public func log(level: LogLevel, label: String, message: String, metadata: LogMetadata, error: (any Error)?) {}
}

/// Writes one JSON object per line: `ts`, `level`, `logger`, `msg`, the metadata keys, and `error`.
/// Metadata passes through `Redaction` first, so a credential that slipped into metadata is not written.
public final class JSONLineLogHandler: LogHandler {
    /// The process-wide handler for standard error.
    public static let standardError = JSONLineLogHandler(fileDescriptor: 2)

    private let fd: Int32
    // Serialises writes so that lines from several event loops never interleave.
    private let lock = Mutex(())

    public init(fileDescriptor: Int32) { self.fd = fileDescriptor }

    public func log(level: LogLevel, label: String, message: String, metadata: LogMetadata, error: (any Error)?) {
        var object: [String: String] = Redaction.redact(metadata: metadata)
        object["ts"] = Timestamp.iso8601(Date())
        object["level"] = "\(level)"
        object["logger"] = label
        object["msg"] = message
        if let error { object["error"] = String(describing: error) }
        let options: JSONSerialization.WritingOptions = [.sortedKeys, .withoutEscapingSlashes]
        guard var line = try? JSONSerialization.data(withJSONObject: object, options: options) else { return }
        line.append(0x0A)
        lock.withLock { _ in
            line.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = Foundation.write(fd, raw.baseAddress! + offset, raw.count - offset)
                    if n <= 0 { break }
                    offset += n
                }
            }
        }
    }
}

/// Collects records in memory, for tests.
public final class InMemoryLogHandler: LogHandler {
    public struct Record: Sendable {
        public let level: LogLevel
        public let message: String
        public let metadata: LogMetadata
    }

    private let storage = Mutex<[Record]>([])

    public init() {}

    public var records: [Record] { storage.withLock { $0 } }

    public func log(level: LogLevel, label: String, message: String, metadata: LogMetadata, error: (any Error)?) {
        let record = Record(level: level, message: message, metadata: Redaction.redact(metadata: metadata))
        storage.withLock { $0.append(record) }
    }
}

/// Credential redaction as a type: header names and metadata keys whose values never reach a log.
public enum Redaction {
    /// Header names (lowercase) whose values are credentials.
    public static let sensitiveHeaders: Set<String> = [
        "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key",
    ]

    /// Metadata keys whose last dotted component marks a credential.
    static let sensitiveKeySuffixes = ["authorization", "token", "assertion", "secret", "password", "cookie"]

    public static func redact(metadata: LogMetadata) -> LogMetadata {
        var out = metadata
        for key in metadata.keys {
            let last = key.split(separator: ".").last.map { $0.lowercased() } ?? key
            if sensitiveKeySuffixes.contains(where: { last.hasSuffix($0) }) { out[key] = "[redacted]" }
        }
        return out
    }

    /// Returns the header value as it may be logged.
    public static func loggable(headerName: String, value: String) -> String {
        sensitiveHeaders.contains(headerName.lowercased()) ? "[redacted]" : value
    }
}
