import FHIR
import Foundation
import GatewayCore
import Testing

@testable import Audit

@Suite("Audit recorder")
struct AuditRecorderTests {
    let builder = AuditEventBuilder(
        configuration: .init(
            instanceID: "gw-1", fhirBaseURL: "https://gw.example.org/fhir",
            tokenEndpointURL: "https://gw.example.org/auth/token", identifierHashKey: [7]))

    func input(_ n: Int) -> AuditInput {
        AuditInput(
            time: 1_736_935_200, outcome: .success,
            subject: .fhir(Interaction(kind: .read, method: "GET", resourceType: "Patient", id: "p\(n)")),
            request: AuditHTTPRequest(method: "GET", path: "/fhir/Patient/p\(n)"), client: AuditClient(id: "c1"),
            peerAddress: "192.0.2.1", requestID: "r\(n)")
    }

    @Test("records the built event durably in the file sink")
    func recordsToFile() throws {
        let dir = TempDirectory()
        defer { dir.remove() }
        let sink = AuditFileSink(configuration: sinkConfiguration(dir.path), metrics: MetricsRegistry())
        let recorder = AuditRecorder(builder: builder, sink: sink)
        let done = DispatchSemaphore(value: 0)
        recorder.record(input(1)) { result in
            #expect(result.value?.seq == 1)
            done.signal()
        }
        done.wait()
        sink.stop()
        let file = try #require(dir.chainFiles().first)
        let line = try #require(dir.lines(file).first)
        let stored = try JSONValue.parse(Array(line.utf8))["event"]
        #expect(stored?.serialized(sortedKeys: true) == builder.build(input(1)).serialized(sortedKeys: true))
    }

    @Test("the in-memory sink keeps events in order and fails like an unwritable directory when told to")
    func inMemory() {
        let sink = InMemoryAuditSink()
        let recorder = AuditRecorder(builder: builder, sink: sink)
        recorder.record(input(1)) { #expect($0.value?.seq == 1) }
        sink.failing = true
        recorder.record(input(2)) { #expect($0.error == .unavailable) }
        sink.failing = false
        recorder.record(input(3)) { #expect($0.value?.seq == 2) }
        #expect(sink.events.count == 2)
        #expect(sink.events.last?["entity"]?.arrayValue?.first?["what"]?["reference"]?.stringValue == "Patient/p3")
    }
}
