// Rebuilds the request sent upstream from what the gateway parsed (ARCHITECTURE §1 step 4; attack-case
// rules 7 and 9): nothing the gateway did not construct reaches the upstream. Headers pass through an
// allow-list; forwarding headers are computed from the real peer; the client's credentials are dropped.

import GatewayCore
public import GatewayHTTP

/// The facts about the client connection that forwarding headers are computed from.
public struct ForwardingContext: Sendable {
    /// The peer's numeric address as the socket reported it (never a client-supplied header).
    public var peerAddress: String
    /// The `Host` the requester used, already validated by the codec.
    public var requestHost: String?
    /// The request ID the gateway settled on (client's if well formed, else generated).
    public var requestID: String

    public init(peerAddress: String, requestHost: String?, requestID: String) {
        self.peerAddress = peerAddress
        self.requestHost = requestHost
        self.requestID = requestID
    }
}

public enum UpstreamRequestBuilder {
    /// End-to-end request headers a FHIR server needs; everything else is dropped. Hop-by-hop headers,
    /// `Authorization`, cookies, method overrides (PATH-05) and identity or forwarding headers (HDR-02,
    /// HDR-03) are therefore never forwarded, whatever their spelling.
    static let forwardedHeaders: Set<String> = [
        "accept", "accept-language", "content-type", "if-match", "if-none-match", "if-modified-since",
        "if-none-exist", "prefer", "user-agent", "cache-control",
    ]

    /// Whether a client header passes the allow-list (names from HTTP/2 are already lowercase: no copy).
    static func isForwarded(_ name: String) -> Bool {
        let lower = name.utf8.contains { $0 >= 0x41 && $0 <= 0x5A } ? name.lowercased() : name
        return forwardedHeaders.contains(lower)
    }

    /// Builds the upstream request.
    /// - Parameters:
    ///   - method: the wire method (already validated).
    ///   - upstreamTarget: path and query for the upstream, built by `upstreamTarget(...)`.
    ///   - headers: the client's request headers.
    ///   - body: the body to send (Content-Length is set by the upstream client).
    ///   - allowCompression: whether `Accept-Encoding` may be forwarded (not when the response is inspected).
    public static func build(
        method: String, upstreamTarget: String, headers: HTTPHeaders, body: [UInt8],
        context: ForwardingContext, upstreamAuthorization: String?, allowCompression: Bool
    ) -> HTTPRequest {
        var out = HTTPHeaders()
        for (name, value) in headers where isForwarded(name) {
            out.add(name, value)
        }
        if allowCompression, let encoding = headers["accept-encoding"] {
            out.add("Accept-Encoding", encoding)
        } else {
            out.add("Accept-Encoding", "identity")
        }
        // The gateway is the edge: forwarding headers describe the real peer only (RFC 7239 §5.2).
        out.add("X-Forwarded-For", context.peerAddress)
        out.add("X-Forwarded-Proto", "https")
        if let host = context.requestHost { out.add("X-Forwarded-Host", host) }
        out.add("Forwarded", forwardedValue(context))
        out.add("X-Request-ID", context.requestID)
        if let upstreamAuthorization { out.add("Authorization", upstreamAuthorization) }
        return HTTPRequest(method: method, target: upstreamTarget, version: .http1_1, headers: out, body: body)
    }

    static func forwardedValue(_ context: ForwardingContext) -> String {
        let node = context.peerAddress.contains(":") ? "\"[\(context.peerAddress)]\"" : context.peerAddress
        var value = "for=\(node);proto=https"
        if let host = context.requestHost, host.utf8.allSatisfy({ isTokenByte($0) || $0 == UInt8(ascii: ":") }) {
            value += ";host=\"\(host)\""
        }
        return value
    }

    static func isTokenByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x2E
            || b == 0x5F
    }

    /// The upstream target: the upstream base path followed by the canonical FHIR path segments, and the
    /// query re-encoded from the parsed parameters.
    public static func upstreamTarget(basePath: String, segments: [String], query: [(String, String)]) -> String {
        var target = basePath
        for segment in segments {
            target += "/" + percentEncode(segment)
        }
        if target.isEmpty { target = "/" }
        if !query.isEmpty {
            target += "?" + query.map { percentEncode($0.0, keep: ":.") + "=" + percentEncode($0.1, keep: ",|:/") }
                .joined(separator: "&")
        }
        return target
    }

    /// Percent-encodes everything but RFC 3986 unreserved characters and `keep` (ASCII characters).
    static func percentEncode(_ s: String, keep: StaticString = "$") -> String {
        func kept(_ b: UInt8) -> Bool {
            let unreserved = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                || b == 0x2D || b == 0x2E || b == 0x5F || b == 0x7E
            return unreserved || UnsafeBufferPointer(start: keep.utf8Start, count: keep.utf8CodeUnitCount).contains(b)
        }
        // Most segments and values need no escaping at all: no copy then.
        guard !s.utf8.allSatisfy(kept) else { return s }
        let hex: StaticString = "0123456789ABCDEF"
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count + 16)
        for b in s.utf8 {
            if kept(b) {
                out.append(b)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hex.utf8Start[Int(b >> 4)])
                out.append(hex.utf8Start[Int(b & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
