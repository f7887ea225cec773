import FHIR
import Foundation
import GatewayCore
import Synchronization
import Testing

@testable import Audit

/// Behaviour of the sink under many concurrent producers. Speed is measured by `pdmp-gateway audit bench`
/// (docs/audit.md "Benchmark"), never asserted here.
@Suite("Audit sink group commit")
struct AuditSinkGroupCommitTests {
    @Test("records appended concurrently from several threads are all durable, chained, and share commits")
    func concurrentAppends() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let registry = MetricsRegistry()
        let sink = AuditFileSink(configuration: .init(directory: dir.path), metrics: registry)
        let builder = AuditEventBuilder(configuration: AuditSinkBenchmark.benchConfiguration)
        let pool = (0..<50).map(AuditSinkBenchmark.sampleInput)
        let total = 2_000
        let failures = Mutex(0)
        let done = DispatchGroup()
        for _ in 0..<total { done.enter() }
        DispatchQueue.concurrentPerform(iterations: 4) { producer in
            for n in stride(from: producer, to: total, by: 4) {
                sink.append(canonicalEvent: builder.canonicalEvent(pool[n % pool.count])) { result in
                    if case .failure = result { failures.withLock { $0 += 1 } }
                    done.leave()
                }
            }
        }
        done.wait()
        #expect(failures.withLock { $0 } == 0)
        #expect(sink.durableSeq == UInt64(total))
        // Producers do not wait for their records, so the writer finds many pending at each commit.
        let commits = registry.histogram("gateway_audit_fsync_seconds", help: "").observations
        #expect(commits >= 1 && commits < UInt64(total))
        sink.stop()
        let report = AuditChainVerifier.verify(files: dir.chainFiles())
        #expect(report.isValid && report.recordsChecked == total)
    }
}
