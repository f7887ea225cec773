// Per-loop request handlers: the requester-facing one starts an `Exchange` per request; each owns the
// loop's upstream pool (ARCHITECTURE §3: nothing on the request path is shared between loops).

import GatewayCore
import GatewayHTTP
import GatewayIO

final class FrontHandler: HTTPServerHandler {
    let services: GatewayServices
    let pool: UpstreamPool
    /// Open connections on this loop, for draining.
    var connections: [UInt64: any HTTPServerConnection] = [:]

    init(services: GatewayServices, pool: UpstreamPool) {
        self.services = services
        self.pool = pool
    }

    func handle(_ request: HTTPRequest, context: HTTPRequestContext, responder: HTTPResponder) {
        Exchange(services: services, request: request, context: context, responder: responder, pool: pool).start()
    }
}

/// Loop-confined objects indexed by their loop, built once at start-up.
final class PerLoop<Value: AnyObject>: @unchecked Sendable {
    // Safe: the dictionary is immutable after init; each value is only used on its own loop (callers look
    // up the value for the loop they are running on).
    private let values: [ObjectIdentifier: Value]

    init(_ loops: [EventLoop], make: (EventLoop) -> Value) {
        var values: [ObjectIdentifier: Value] = [:]
        for loop in loops { values[ObjectIdentifier(loop)] = make(loop) }
        self.values = values
    }

    func value(for loop: EventLoop) -> Value { values[ObjectIdentifier(loop)]! }

    var all: [Value] { Array(values.values) }
}
