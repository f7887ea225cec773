import Foundation
import Testing
@testable import GatewayCore

@Suite("Logging, metrics and identifiers")
struct CoreTests {
    @Test("credentials in metadata never reach a log handler")
    func redaction() {
        let handler = InMemoryLogHandler()
        let logger = Logger(label: "t", level: .debug, handler: handler)
        logger.info("x", metadata: ["http.authorization": "Bearer abc", "auth.token": "t", "request.id": "r1"])
        let record = handler.records[0]
        #expect(record.metadata["http.authorization"] == "[redacted]")
        #expect(record.metadata["auth.token"] == "[redacted]")
        #expect(record.metadata["request.id"] == "r1")
        #expect(Redaction.loggable(headerName: "Cookie", value: "a=b") == "[redacted]")
    }

    @Test("levels below the logger's level are not evaluated")
    func disabledLevels() {
        let handler = InMemoryLogHandler()
        let logger = Logger(label: "t", level: .warning, handler: handler)
        var evaluated = false
        logger.debug({ evaluated = true; return "never" }())
        #expect(!evaluated)
        #expect(handler.records.isEmpty)
    }

    @Test("Prometheus text format for counters, gauges and histograms")
    func prometheus() {
        let registry = MetricsRegistry()
        registry.counter("req_total", help: "Requests.", labels: [("status", "200")]).increment(by: 3)
        registry.gauge("open", help: "Open.").set(2)
        let h = registry.histogram("lat_seconds", help: "Latency.", buckets: [0.1, 1])
        h.observe(0.05)
        h.observe(0.5)
        let text = registry.render()
        #expect(text.contains("# TYPE req_total counter\nreq_total{status=\"200\"} 3\n"))
        #expect(text.contains("open 2\n"))
        #expect(text.contains("lat_seconds_bucket{le=\"0.1\"} 1\n"))
        #expect(text.contains("lat_seconds_bucket{le=\"1\"} 2\n"))
        #expect(text.contains("lat_seconds_bucket{le=\"+Inf\"} 2\nlat_seconds_sum 0.55\nlat_seconds_count 2\n"))
        // The same name and labels return the same series.
        registry.counter("req_total", help: "Requests.", labels: [("status", "200")]).increment()
        #expect(registry.render().contains("req_total{status=\"200\"} 4\n"))
    }

    @Test("request IDs from clients are accepted only when short and safe", arguments: [
        ("abc-123_x.y:z", true), ("", false), ("a b", false), ("a\r\nX-Evil: 1", false),
        (String(repeating: "a", count: 129), false), ("ünï", false),
    ])
    func requestIDs(value: String, ok: Bool) {
        #expect(RequestID.isWellFormed(value) == ok)
    }

    @Test("generated ids: version-4 UUIDs and 128-bit hex, lowercase, all different")
    func generatedIDs() {
        var seen = Set<String>()
        for _ in 0..<600 {  // more than one refill of the random pool
            let uuid = RandomID.uuid()
            let bytes = Array(uuid.utf8)
            #expect(bytes.count == 36)
            #expect([8, 13, 18, 23].allSatisfy { bytes[$0] == UInt8(ascii: "-") })
            #expect(bytes[14] == UInt8(ascii: "4"))  // RFC 9562 §5.4 version
            #expect("89ab".utf8.contains(bytes[19]))  // variant 10xx
            #expect(UUID(uuidString: uuid)?.uuidString.lowercased() == uuid)
            let hex = RandomID.hex128()
            #expect(hex.utf8.count == 32 && hex.utf8.allSatisfy { "0123456789abcdef".utf8.contains($0) })
            seen.insert(uuid)
            seen.insert(hex)
        }
        #expect(seen.count == 1200)
    }
}
