// The HTTP(S) transport for audit shipping (issue #7 §3): POSTs each batch Bundle to the configured Audit
// Record Repository (`audit.repository_url`, a FHIR base) with the gateway's own HTTP/1.1 client on one
// event loop. It never blocks the loop: the shipper thread waits for the completion, the loop only does
// non-blocking I/O. No URLSession: FoundationNetworking would pull libcurl into the gateway for one POST.

import Audit
import Foundation
import GatewayCore
import GatewayHTTP
import GatewayIO

/// `AuditTransport` over HTTP(S) to a FHIR server's base URL (FHIR R4 http.html#transaction: a `batch`
/// Bundle is POSTed to the base).
final class HTTPAuditTransport: AuditTransport {
    /// The parsed repository URL.
    struct Endpoint: Equatable {
        var scheme: String
        var host: String
        var port: Int
        /// The request target of the FHIR base, e.g. `/fhir` (`/` for the root).
        var target: String

        /// Parses `http(s)://host[:port][/path]`; nil for anything else (other schemes, user info, query).
        init?(_ url: String) {
            guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
                  scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty,
                  components.user == nil, components.password == nil, components.query == nil,
                  components.fragment == nil
            else { return nil }
            self.scheme = scheme
            self.host = host
            self.port = components.port ?? (scheme == "https" ? 443 : 80)
            let path = components.percentEncodedPath
            self.target = path.isEmpty ? "/" : path
        }
    }

    let endpoint: Endpoint
    let authorization: String?
    let loop: EventLoop
    let pool: LoopConfined<UpstreamPool>

    /// - Parameters:
    ///   - url: the repository's FHIR base.
    ///   - caFile: CA bundle for an `https` repository (nil = system store).
    ///   - authorization: an `Authorization` header value for the repository, if it needs one.
    ///   - loop: the event loop the HTTP client runs on.
    init(url: String, caFile: String? = nil, authorization: String? = nil, loop: EventLoop) throws {
        guard let endpoint = Endpoint(url) else {
            throw GatewayError(status: 500, issueType: .exception,
                               "audit.repository_url: '\(url)' is not an http(s) URL without query or credentials")
        }
        self.endpoint = endpoint
        self.authorization = authorization
        self.loop = loop
        let tls = endpoint.scheme == "https" ? try TLSClientContext(caFile: caFile, alpn: ["http/1.1"]) : nil
        // The repository may be slow to answer a large batch; the shipper has its own overall timeout. A private
        // metrics registry keeps these POSTs out of the upstream series (`gateway_upstream_*`).
        pool = LoopConfined(on: loop) {
            UpstreamPool(
                eventLoop: loop, host: endpoint.host, port: endpoint.port, tls: tls, maxIdle: 2,
                connectTimeoutMs: 5_000, responseTimeoutMs: 30_000, idleTimeoutMs: 15_000,
                metrics: MetricsRegistry())
        }
    }

    func post(bundle: [UInt8], completion: @escaping @Sendable (Result<AuditTransportResponse, any Error>) -> Void) {
        var headers = HTTPHeaders([
            ("Content-Type", "application/fhir+json"), ("Accept", "application/fhir+json"),
        ])
        if let authorization { headers.add("Authorization", authorization) }
        let request = HTTPRequest(method: "POST", target: endpoint.target, headers: headers, body: bundle)
        pool.run { pool in
            pool.send(request, maxBodyBytes: 64 << 20) { result in
                switch result {
                case .success(let response):
                    completion(.success(AuditTransportResponse(status: response.status, body: response.body)))
                case .failure(let error):
                    completion(.failure(error))
                }
            }
        }
    }

    /// Closes the idle connections (at shutdown, before the loops stop).
    func close() {
        let done = DispatchSemaphore(value: 0)
        pool.run { pool in
            pool.close()
            done.signal()
        }
        done.wait()
    }
}

/// A value created on, and only ever used on, one event loop.
final class LoopConfined<Value: AnyObject>: @unchecked Sendable {
    // Safe: `value` is created inside `loop.execute` and read only inside `loop.execute`, so only the loop's
    // thread touches it; the loop runs queued work in order, so the creation happens before every use.
    private var value: Value?
    let loop: EventLoop

    init(on loop: EventLoop, _ make: @escaping @Sendable () -> Value) {
        self.loop = loop
        loop.execute { [self] in self.value = make() }
    }

    /// Runs `body` with the value on its loop (queued, in order).
    func run(_ body: @escaping @Sendable (Value) -> Void) {
        loop.execute { [self] in
            guard let value = self.value else { return }
            body(value)
        }
    }
}
