// Why a message was refused at the framing layer. The status goes to the client (through the injectable
// error renderer), the reason to the `gateway_http_parse_errors_total{reason=...}` metric.

public import GatewayCore

/// A framing or syntax error in an HTTP/1.1 message. After one, the connection is closed: a stream whose
/// framing is in doubt is never parsed further (attack-cases rule 7).
public struct HTTPParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The status to answer with (400, 405, 408, 413, 414, 417, 431, 501, 505).
    public let status: Int
    /// A stable, low-cardinality metric label such as `bare_lf` or `content_length_and_transfer_encoding`.
    public let reason: String
    /// A short explanation that is safe to show to the client.
    public let message: String

    /// Creates an error.
    public init(status: Int, reason: String, message: String) {
        self.status = status
        self.reason = reason
        self.message = message
    }

    public var description: String { "\(status) \(reason): \(message)" }

    static func bad(_ reason: String, _ message: String) -> HTTPParseError {
        HTTPParseError(status: 400, reason: reason, message: message)
    }
}

extension HTTPParseError: HTTPResponseError {
    public var issueType: IssueType {
        switch status {
        case 408: .timeout
        case 413, 414, 431: .tooLong
        case 405, 501, 505: .notSupported
        default: .structure
        }
    }

    public var publicMessage: String { message }
}
