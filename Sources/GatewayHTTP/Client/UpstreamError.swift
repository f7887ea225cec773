// Upstream failures and their HTTP face: 502 by default, 504 for timeouts (Caddy's proxy rules, STYLE §10).

public import GatewayCore

/// Why an upstream exchange failed.
public struct UpstreamError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The failure class.
    public enum Kind: String, Sendable {
        /// The TCP connection or TLS handshake failed.
        case connectFailed
        /// Connecting took longer than the connect timeout.
        case connectTimeout
        /// The upstream sent nothing for longer than the response timeout.
        case responseTimeout
        /// The upstream closed or reset the connection before the response ended.
        case connectionClosed
        /// The response could not be framed unambiguously.
        case invalidResponse
        /// A buffered response exceeded its size limit.
        case responseTooLarge
        /// The request could not be serialised safely (a gateway bug, never sent).
        case invalidRequest
        /// The caller cancelled the exchange.
        case cancelled
    }

    /// The failure class.
    public let kind: Kind
    /// Internal detail for logs; never shown to clients.
    public let detail: String

    /// Creates an error.
    public init(_ kind: Kind, _ detail: String = "") {
        self.kind = kind
        self.detail = detail
    }

    public var description: String { detail.isEmpty ? kind.rawValue : "\(kind.rawValue): \(detail)" }
}

extension UpstreamError: HTTPResponseError {
    public var status: Int {
        switch kind {
        case .connectTimeout, .responseTimeout: 504
        case .invalidRequest: 500
        default: 502
        }
    }

    public var issueType: IssueType {
        switch kind {
        case .connectTimeout, .responseTimeout: .timeout
        case .invalidRequest: .exception
        default: .transient
        }
    }

    public var publicMessage: String {
        switch kind {
        case .connectTimeout, .responseTimeout: "the upstream server did not answer in time"
        case .invalidRequest: "the request could not be forwarded"
        default: "the upstream server could not be reached or sent an invalid response"
        }
    }
}

/// Receives one upstream response, streamed, on the pool's event loop.
public protocol UpstreamResponseHandler: AnyObject {
    /// The final (non-1xx) response head arrived.
    func didReceiveHead(_ head: HTTPResponseHead)
    /// A piece of the (de-chunked) body arrived.
    func didReceiveBody(_ chunk: [UInt8])
    /// The response ended.
    func didFinish()
    /// The exchange failed; no further calls follow.
    func didFail(_ error: UpstreamError)
}
