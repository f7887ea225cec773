import FHIR
import Foundation
import GatewayCore
import Testing

@testable import Audit

@Suite("Audit sink benchmark")
struct AuditSinkBenchmarkTests {
    /// Realistic events: BALP PatientQuery events as the builder makes them (about 2 KB each).
    static func events(_ count: Int) -> [JSONValue] {
        let builder = AuditEventBuilder(
            configuration: .init(
                instanceID: "gw-bench", fhirBaseURL: "https://gw.example.org/fhir",
                tokenEndpointURL: "https://gw.example.org/auth/token", identifierHashKey: [1, 2, 3]))
        return (0..<count).map { n in
            var search = Interaction(kind: .searchType, method: "GET", resourceType: "MedicationDispense")
            search.patients = ["pat-\(n)"]
            return builder.build(
                AuditInput(
                    time: 1_736_935_200 + Double(n) / 1000, outcome: .success, subject: .fhir(search),
                    request: AuditHTTPRequest(
                        method: "GET", path: "/fhir/MedicationDispense", query: "patient=pat-\(n)&_count=50",
                        host: "gw.example.org"),
                    client: AuditClient(id: "pdmp-client-\(n % 50)", name: "Clinic \(n % 50)"),
                    peerAddress: "203.0.113.\(n % 250)", requestID: "req-\(n)",
                    decision: AuditDecision(permitted: true, rule: "own-patients", reason: "patient in panel"),
                    tokenJTI: "jti-\(n)"))
        }
    }

    /// Runs `total` appends from `producers` threads and returns the seconds until every one is durable.
    static func run(
        _ sink: AuditFileSink, total: Int, producers: Int,
        append: @escaping @Sendable (Int, @escaping @Sendable () -> Void) -> Void
    ) -> Double {
        let group = DispatchGroup()
        for _ in 0..<total { group.enter() }
        let started = monotonicNanos()
        DispatchQueue.concurrentPerform(iterations: producers) { p in
            for i in stride(from: p, to: total, by: producers) { append(i) { group.leave() } }
        }
        group.wait()
        return Double(monotonicNanos() - started) / 1e9
    }

    /// Prints durable records per second with group commit (issue #7 target: ≥ 20,000/s). There is no timed
    /// assertion (debug build, shared machine); the test asserts only that every record is durable and
    /// chained. Two figures: the sink alone (events already canonical), and end to end from `JSONValue`
    /// (canonical serialization runs on the producing threads, which dominates in a debug build).
    @Test("group commit makes many concurrent records durable (prints records/s)")
    func durableThroughput() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let registry = MetricsRegistry()
        let sink = AuditFileSink(configuration: .init(directory: dir.path), metrics: registry)
        // A pool of distinct events, reused: building and serializing them is slow in a debug build.
        let pool = Self.events(500)
        let canonical = pool.map(CanonicalJSON.serialize)
        let sinkTotal = 30_000
        let endToEndTotal = 3_000

        let sinkOnly = Self.run(sink, total: sinkTotal, producers: 4) { i, done in
            sink.append(canonicalEvent: canonical[i % pool.count]) { _ in done() }
        }
        let fsyncs = registry.histogram("gateway_audit_fsync_seconds", help: "").observations
        let endToEnd = Self.run(sink, total: endToEndTotal, producers: 4) { i, done in
            sink.append(pool[i % pool.count]) { _ in done() }
        }
        print(
            "audit sink (\(canonical[0].count)-byte events): sink alone \(Int(Double(sinkTotal) / sinkOnly)) durable "
                + "records/s (\(fsyncs) fdatasyncs, \(sinkTotal / max(Int(fsyncs), 1)) records per commit); "
                + "end to end from JSONValue \(Int(Double(endToEndTotal) / endToEnd)) records/s")
        #expect(sink.durableSeq == UInt64(sinkTotal + endToEndTotal))
        sink.stop()
        #expect(AuditChainVerifier.verify(files: dir.chainFiles()).recordsChecked == sinkTotal + endToEndTotal)
    }
}
