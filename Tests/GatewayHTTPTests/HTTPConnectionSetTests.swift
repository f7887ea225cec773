import GatewayTesting
import GatewayIO
import Testing
@testable import GatewayHTTP

@Suite("Connection set drain")
struct HTTPConnectionSetTests {
    @Test("drainAll closes idle connections at once and reports when the busy one finished")
    func drainAll() async throws {
        let signal = Signal<[String]>()
        TestLoop.loop.execute {
            var events: [String] = []
            let set = HTTPConnectionSet()
            let (idleClient, idleServer) = InMemoryByteStreamPair.make(on: TestLoop.loop)
            let (busyClient, busyServer) = InMemoryByteStreamPair.make(on: TestLoop.loop)
            let idle = HTTP1ServerConnection(
                stream: idleServer, handler: RecordingHandler(mode: .echo), connectionID: 1)
            let busy = HTTP1ServerConnection(
                stream: busyServer, handler: RecordingHandler(mode: .delayed(100)), connectionID: 2)
            idle.onClose = { _ in events.append("idle closed") }
            busy.onClose = { _ in events.append("busy closed") }
            for connection in [idle, busy] {
                set.add(connection)
                connection.start()
            }
            let idleCollector = ClientCollector(until: { _ in false }) { _ in }
            let busyCollector = ClientCollector(until: { _ in false }) { _ in }
            idleClient.delegate = idleCollector
            busyClient.delegate = busyCollector
            busyClient.write(Array("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
            _ = TestLoop.loop.schedule(afterMilliseconds: 30) {
                #expect(set.count == 2)
                set.drainAll {
                    _ = set  // the caller owns the set for as long as the drain runs
                    events.append("empty")
                    let answer = String(decoding: busyCollector.received, as: UTF8.self)
                    let answered = answer.hasPrefix("HTTP/1.1 200") && answer.contains("Connection: close")
                    events.append(answered ? "answered" : answer)
                    signal.fulfill(events)
                }
            }
        }
        let events = try #require(await signal.wait(seconds: 5))
        #expect(events == ["idle closed", "busy closed", "empty", "answered"])
    }
}
