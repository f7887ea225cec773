// Metrics registry with Prometheus text exposition (format 0.0.4). Series are created once and kept as
// handles; updating a handle is one atomic operation, so the request path takes no lock.

import Foundation
import Synchronization

/// A monotonically increasing counter.
public final class Counter: Sendable {
    let value = Atomic<UInt64>(0)
    public func increment(by n: UInt64 = 1) { value.add(n, ordering: .relaxed) }
    public var current: UInt64 { value.load(ordering: .relaxed) }
}

/// A value that goes up and down (open connections, backlog).
public final class Gauge: Sendable {
    let value = Atomic<Int64>(0)
    public func set(_ v: Int64) { value.store(v, ordering: .relaxed) }
    public func add(_ v: Int64) { value.add(v, ordering: .relaxed) }
    public var current: Int64 { value.load(ordering: .relaxed) }
}

/// A histogram with fixed upper bounds (seconds, unless the name says otherwise).
public final class Histogram: Sendable {
    struct State {
        var buckets: [UInt64]
        var count: UInt64 = 0
        var sum: Double = 0
    }

    public let bounds: [Double]
    // One uncontended lock per observation; histograms are not on the per-byte path.
    let state: Mutex<State>

    init(bounds: [Double]) {
        self.bounds = bounds
        self.state = Mutex(State(buckets: Array(repeating: 0, count: bounds.count)))
    }

    public func observe(_ value: Double) {
        state.withLock { state in
            for (i, bound) in bounds.enumerated() where value <= bound {
                state.buckets[i] += 1
            }
            state.count += 1
            state.sum += value
        }
    }

    public var observations: UInt64 { state.withLock { $0.count } }
}

/// Default latency buckets in seconds.
public let defaultLatencyBuckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/// Holds every metric family; `render()` produces the Prometheus text format.
public final class MetricsRegistry: Sendable {
    private enum Kind: String, Sendable { case counter, gauge, histogram }
    private enum Series: Sendable {
        case counter(Counter)
        case gauge(Gauge)
        case histogram(Histogram)
    }
    private struct Family: Sendable {
        let kind: Kind
        let help: String
        var series: [(labels: String, series: Series)]
    }

    private let families = Mutex<[String: Family]>([:])

    public init() {}

    /// The process-wide registry.
    public static let shared = MetricsRegistry()

    public func counter(_ name: String, help: String, labels: [(String, String)] = []) -> Counter {
        series(name, kind: .counter, help: help, labels: labels, make: { .counter(Counter()) }) {
            if case .counter(let c) = $0 { return c }
            return nil
        }
    }

    public func gauge(_ name: String, help: String, labels: [(String, String)] = []) -> Gauge {
        series(name, kind: .gauge, help: help, labels: labels, make: { .gauge(Gauge()) }) {
            if case .gauge(let g) = $0 { return g }
            return nil
        }
    }

    public func histogram(
        _ name: String, help: String, labels: [(String, String)] = [], buckets: [Double] = defaultLatencyBuckets
    ) -> Histogram {
        series(name, kind: .histogram, help: help, labels: labels, make: { .histogram(Histogram(bounds: buckets)) }) {
            if case .histogram(let h) = $0 { return h }
            return nil
        }
    }

    private func series<T>(
        _ name: String, kind: Kind, help: String, labels: [(String, String)], make: () -> Series,
        extract: (Series) -> T?
    ) -> T {
        let key = Self.renderLabels(labels)
        return families.withLock { families in
            var family = families[name] ?? Family(kind: kind, help: help, series: [])
            precondition(family.kind == kind, "metric \(name) registered with two kinds")
            if let existing = family.series.first(where: { $0.labels == key }), let typed = extract(existing.series) {
                return typed
            }
            let created = make()
            family.series.append((key, created))
            families[name] = family
            return extract(created)!
        }
    }

    static func renderLabels(_ labels: [(String, String)]) -> String {
        guard !labels.isEmpty else { return "" }
        let parts = labels.map { name, value in
            let escaped = value.replacingOccurrences(of: "\\", with: "\\\\")
                .replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
            return "\(name)=\"\(escaped)\""
        }
        return "{" + parts.joined(separator: ",") + "}"
    }

    /// Prometheus text exposition of every family, sorted by name.
    public func render() -> String {
        let snapshot = families.withLock { $0 }
        var out = ""
        for name in snapshot.keys.sorted() {
            let family = snapshot[name]!
            out += "# HELP \(name) \(family.help)\n# TYPE \(name) \(family.kind.rawValue)\n"
            for (labels, series) in family.series {
                switch series {
                case .counter(let c): out += "\(name)\(labels) \(c.current)\n"
                case .gauge(let g): out += "\(name)\(labels) \(g.current)\n"
                case .histogram(let h): out += Self.renderHistogram(name, labels, h)
                }
            }
        }
        return out
    }

    private static func renderHistogram(_ name: String, _ labels: String, _ h: Histogram) -> String {
        func withLe(_ le: String) -> String {
            labels.isEmpty ? "{le=\"\(le)\"}" : String(labels.dropLast()) + ",le=\"\(le)\"}"
        }
        let state = h.state.withLock { $0 }
        var out = ""
        for (i, bound) in h.bounds.enumerated() {
            out += "\(name)_bucket\(withLe(formatNumber(bound))) \(state.buckets[i])\n"
        }
        out += "\(name)_bucket\(withLe("+Inf")) \(state.count)\n"
        out += "\(name)_sum\(labels) \(formatNumber(state.sum))\n"
        out += "\(name)_count\(labels) \(state.count)\n"
        return out
    }

    private static func formatNumber(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)
    }
}
