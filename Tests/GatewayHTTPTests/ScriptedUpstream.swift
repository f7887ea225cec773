// A loopback TCP upstream that records every request it receives (raw text, per connection) and answers
// each with a scripted action, for the client pool tests.

import Foundation
import GatewayIO
import Synchronization
@testable import GatewayHTTP

enum UpstreamAction: Sendable {
    /// Writes these raw bytes (a whole response, or deliberately broken framing).
    case respond(String)
    /// Writes the bytes, then closes.
    case respondAndClose(String)
    /// Closes without answering.
    case close
    /// Never answers.
    case hang
}

struct RecordedRequest: Sendable {
    var connection: Int
    var text: String
}

final class ScriptedUpstream: Sendable {
    private let log = Mutex<(connections: Int, requests: [RecordedRequest])>((0, []))
    private let script: @Sendable (Int, String) -> UpstreamAction
    private(set) nonisolated(unsafe) var listener: Listener?  // written once in init before any use

    init(script: @escaping @Sendable (_ index: Int, _ request: String) -> UpstreamAction) throws {
        self.script = script
        listener = try Listener(group: TestLoop.group, host: "127.0.0.1", port: 0) { [self] stream in
            let number = log.withLock { log -> Int in
                log.connections += 1
                return log.connections
            }
            stream.delegate = ScriptedConnection(upstream: self, number: number)
        }
    }

    var port: Int { listener!.port }
    var connections: Int { log.withLock { $0.connections } }
    var requests: [RecordedRequest] { log.withLock { $0.requests } }

    func shutdown() { listener?.close() }

    func received(_ text: String, connection: Int) -> UpstreamAction {
        let index = log.withLock { log -> Int in
            log.requests.append(RecordedRequest(connection: connection, text: text))
            return log.requests.count - 1
        }
        return script(index, text)
    }
}

private final class ScriptedConnection: ByteStreamDelegate {
    let upstream: ScriptedUpstream
    let number: Int
    var buffer: [UInt8] = []

    init(upstream: ScriptedUpstream, number: Int) {
        self.upstream = upstream
        self.number = number
    }

    func streamDidRead(_ stream: any ByteStream, bytes: UnsafeRawBufferPointer) {
        buffer.append(contentsOf: bytes)
        while let length = completeRequestLength() {
            let text = String(decoding: buffer[0..<length], as: UTF8.self)
            buffer.removeFirst(length)
            switch upstream.received(text, connection: number) {
            case .respond(let raw): stream.write(Array(raw.utf8))
            case .respondAndClose(let raw):
                stream.write(Array(raw.utf8))
                stream.close()
            case .close: stream.close()
            case .hang: break
            }
        }
    }

    /// Length of the first complete request in the buffer (head plus Content-Length body).
    private func completeRequestLength() -> Int? {
        let text = String(decoding: buffer, as: UTF8.self)
        guard let end = text.range(of: "\r\n\r\n") else { return nil }
        let head = text[..<end.lowerBound]
        let headLength = text.utf8.distance(from: text.startIndex, to: end.upperBound)
        var bodyLength = 0
        for line in head.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
            bodyLength = Int(line.dropFirst(15).trimmingCharacters(in: .whitespaces)) ?? 0
        }
        return buffer.count >= headLength + bodyLength ? headLength + bodyLength : nil
    }

    func streamDidClose(_ stream: any ByteStream, error: (any Error)?) {}
    func streamDidDrain(_ stream: any ByteStream) {}
}

/// The outcome of one buffered upstream exchange, in Sendable form.
struct UpstreamOutcome: Sendable {
    var status: Int?
    var body: String
    var error: UpstreamError?
}

extension Result where Success == HTTPResponse, Failure == UpstreamError {
    var outcome: UpstreamOutcome {
        switch self {
        case .success(let r):
            UpstreamOutcome(status: r.status, body: String(decoding: r.body, as: UTF8.self), error: nil)
        case .failure(let e): UpstreamOutcome(status: nil, body: "", error: e)
        }
    }
}
