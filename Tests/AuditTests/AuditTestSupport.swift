// Shared fixtures for the Audit tests: temporary directories, a settable clock, sample events.

import Foundation
import GatewayCore
import Synchronization

@testable import Audit

/// A fresh directory under the system temp dir, removed by `remove()`.
struct TempDirectory {
    let path: String

    init() {
        path = NSTemporaryDirectory() + "audit-test-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { path + "/" + name }

    /// The chain files, in name (= chain) order, as full paths.
    func chainFiles(prefix: String = "audit") -> [String] { Self.chainFiles(in: path, prefix: prefix) }

    static func chainFiles(in path: String, prefix: String = "audit") -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.filter { $0.hasPrefix(prefix + "-") && $0.hasSuffix(".ndjson") }.sorted().map { path + "/" + $0 }
    }

    func lines(_ path: String) -> [String] {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// A clock the test moves by hand.
final class ManualClock: Clock {
    private let time: Mutex<Double>
    init(_ start: Double = 1_736_935_200) { time = Mutex(start) }
    func now() -> Double { time.withLock { $0 } }
    func advance(_ seconds: Double) { time.withLock { $0 += seconds } }
}

/// A small AuditEvent-like object, distinct per `n`.
func sampleEvent(_ n: Int, padding: Int = 0) -> JSONValue {
    .object(
        JSONObject([
            ("resourceType", .string("AuditEvent")),
            ("outcome", .string("0")),
            ("recorded", .string("2025-01-15T10:00:00.000Z")),
            (
                "entity",
                .array([.object(JSONObject([("what", .object(JSONObject([("reference", .string("Patient/p\(n)"))])))]))]
                )
            ),
            ("note", .string("é \"quoted\" \\ line\nbreak " + String(repeating: "x", count: padding))),
            ("n", .number(String(n))),
        ]))
}

/// A sink configuration for tests: no linger, quick retries.
func sinkConfiguration(_ directory: String, maxFileBytes: Int = 64 << 20, maxFileAge: Double? = nil)
    -> AuditFileSink.Configuration
{
    AuditFileSink.Configuration(
        directory: directory, maxFileBytes: maxFileBytes, maxFileAge: maxFileAge, commitDelay: 0, retryInterval: 0.05,
        instanceID: "gw-test")
}

extension Result {
    var value: Success? {
        if case .success(let v) = self { return v }
        return nil
    }

    var error: Failure? {
        if case .failure(let e) = self { return e }
        return nil
    }
}

/// Waits (polling) until `condition` holds or `seconds` pass; returns whether it held.
func eventually(_ seconds: Double = 10, _ condition: () -> Bool) -> Bool {
    let deadline = Date(timeIntervalSinceNow: seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(5_000)
    }
    return condition()
}
