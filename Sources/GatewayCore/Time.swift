// Clock and timestamps. Domain modules take a `Clock` so that token and audit logic is testable with
// fixed times.

public import Foundation

/// The source of "now" for domain logic.
public protocol Clock: Sendable {
    /// Seconds since the Unix epoch.
    func now() -> Double
}

/// The system wall clock.
public struct SystemClock: Clock {
    public init() {}
    public func now() -> Double { Date().timeIntervalSince1970 }
}

/// A clock fixed at a given instant, for tests.
public struct FixedClock: Clock {
    public var time: Double
    public init(_ time: Double) { self.time = time }
    public func now() -> Double { time }
}

/// Monotonic nanoseconds, for durations and timeouts (never for wall-clock claims).
public func monotonicNanos() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

public enum Timestamp {
    /// RFC 3339 / FHIR `instant` with milliseconds, in UTC.
    public static func iso8601(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().timeZone(separator: .omitted).time(includingFractionalSeconds: true).timeSeparator(.colon).dateSeparator(.dash).dateTimeSeparator(.standard))
    }
}
