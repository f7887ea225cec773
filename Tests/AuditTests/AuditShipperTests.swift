import Foundation
import GatewayCore
import Synchronization
import Testing

@testable import Audit

/// An audit repository stand-in: fails the first POSTs in the listed ways, then accepts, and keeps every
/// Bundle it saw.
final class FakeRepository: AuditTransport {
    enum Failure: Sendable { case transportError, http503, entryRejected, neverAnswers }

    struct Post: Sendable {
        var ids: [String]
        var bundle: JSONValue
        var accepted: Bool
    }

    private let state: Mutex<(failures: [Failure], posts: [Post])>

    init(failures: [Failure] = []) { state = Mutex((failures, [])) }

    var posts: [Post] { state.withLock { $0.posts } }
    var acceptedIDs: [String] { posts.filter(\.accepted).flatMap(\.ids) }

    func post(bundle: [UInt8], completion: @escaping @Sendable (Result<AuditTransportResponse, any Error>) -> Void) {
        let parsed = (try? JSONValue.parse(bundle)) ?? .null
        let ids = (parsed["entry"]?.arrayValue ?? []).compactMap { $0["resource"]?["id"]?.stringValue }
        let failure = state.withLock { state -> Failure? in
            let failure = state.failures.isEmpty ? nil : state.failures.removeFirst()
            state.posts.append(Post(ids: ids, bundle: parsed, accepted: failure == nil))
            return failure
        }
        if failure == .neverAnswers { return }
        DispatchQueue.global().async {
            switch failure {
            case .transportError: completion(.failure(GatewayError(status: 502, issueType: .exception, "refused")))
            case .http503: completion(.success(AuditTransportResponse(status: 503, body: [])))
            case .entryRejected:
                completion(.success(Self.batchResponse(ids.indices.map { $0 == 0 ? "500" : "201 Created" })))
            case .neverAnswers: break
            case nil: completion(.success(Self.batchResponse(ids.map { _ in "201 Created" })))
            }
        }
    }

    static func batchResponse(_ statuses: [String]) -> AuditTransportResponse {
        let entries = statuses.map { status -> JSONValue in ["response": ["status": .string(status)]] }
        let body: JSONValue = ["resourceType": "Bundle", "type": "batch-response", "entry": .array(entries)]
        return AuditTransportResponse(status: 200, body: body.serialized())
    }
}

@Suite("Audit shipper")
struct AuditShipperTests {
    @Test("every record arrives after the repository failed a few times, with stable ids = record hashes")
    func shipsThroughFailures() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let registry = MetricsRegistry()
        let sink = AuditFileSink(configuration: sinkConfiguration(dir.path), metrics: registry)
        let receipts = (1...250).compactMap { sink.appendAndWait(sampleEvent($0)).value }
        #expect(receipts.count == 250)

        let repository = FakeRepository(failures: [.transportError, .http503, .entryRejected])
        let shipper = AuditShipper(
            sink: sink, transport: repository, batchSize: 100, initialBackoff: 0.01, maxBackoff: 0.05, metrics: registry
        )
        shipper.start()
        #expect(eventually { shipper.shippedSeq == 250 })
        shipper.stop()

        #expect(repository.acceptedIDs == receipts.map(\.hash))
        let posts = repository.posts
        #expect(posts.count == 6)
        // The failed attempts carried exactly the records of the first accepted Bundle: ids are stable.
        #expect(posts.prefix(4).allSatisfy { $0.ids == posts[0].ids })
        #expect(posts[0].ids == Array(receipts.prefix(100).map(\.hash)))
        for post in posts {
            #expect(post.bundle["resourceType"]?.stringValue == "Bundle")
            #expect(post.bundle["type"]?.stringValue == "batch")
            for entry in post.bundle["entry"]?.arrayValue ?? [] {
                let id = try #require(entry["resource"]?["id"]?.stringValue)
                #expect(entry["request"]?["method"]?.stringValue == "PUT")
                #expect(entry["request"]?["url"]?.stringValue == "AuditEvent/" + id)
                #expect(entry["resource"]?["resourceType"]?.stringValue == "AuditEvent")
            }
        }
        #expect(registry.render().contains("gateway_audit_spool_backlog 0"))
        #expect(registry.render().contains("gateway_audit_ship_failures_total 3"))

        // A restarted shipper resumes at the cursor: only new records are sent.
        let later = FakeRepository()
        let restarted = AuditShipper(
            sink: sink, transport: later, batchSize: 100, initialBackoff: 0.01, metrics: MetricsRegistry())
        #expect(restarted.shippedSeq == 250)
        restarted.start()
        let more = (251...255).compactMap { sink.appendAndWait(sampleEvent($0)).value }
        #expect(eventually { restarted.shippedSeq == 255 })
        restarted.stop()
        sink.stop()
        #expect(later.acceptedIDs == more.map(\.hash))
    }

    @Test("records in rotated files are shipped in chain order across files")
    func shipsAcrossFiles() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let sink = AuditFileSink(
            configuration: sinkConfiguration(dir.path, maxFileBytes: 3000), metrics: MetricsRegistry())
        let receipts = (1...40).compactMap { sink.appendAndWait(sampleEvent($0, padding: 300)).value }
        #expect(dir.chainFiles().count > 5)
        let repository = FakeRepository()
        let shipper = AuditShipper(sink: sink, transport: repository, batchSize: 7, metrics: MetricsRegistry())
        shipper.start()
        #expect(eventually { shipper.shippedSeq == 40 })
        shipper.stop()
        sink.stop()
        #expect(repository.acceptedIDs == receipts.map(\.hash))
    }

    @Test("a repository that never answers does not hold up appends, and the backlog metric grows")
    func neverBlocksAppends() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let registry = MetricsRegistry()
        let sink = AuditFileSink(configuration: sinkConfiguration(dir.path), metrics: registry)
        let repository = FakeRepository(failures: Array(repeating: .neverAnswers, count: 100))
        let shipper = AuditShipper(
            configuration: .init(directory: dir.path, pollInterval: 0.01, requestTimeout: 3600),
            transport: repository, durableSeq: { sink.durableSeq }, metrics: registry)
        shipper.start()
        let started = Date()
        let receipts = (1...200).compactMap { sink.appendAndWait(sampleEvent($0)).value }
        #expect(receipts.count == 200)
        #expect(Date().timeIntervalSince(started) < 30)
        #expect(eventually { registry.render().contains("gateway_audit_spool_backlog 200") })
        shipper.stop()
        sink.stop()
        #expect(shipper.shippedSeq == 0)
    }
}
