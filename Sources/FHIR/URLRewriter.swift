// Upstream base → public base (issue #5 item 7). The upstream writes its own base into Bundle links,
// fullUrls, Location and Content-Location; the client must only ever see the gateway's base.

/// Rewrites absolute URLs under the upstream base to the public base.
public struct URLRewriter: Sendable, Hashable {
    /// The upstream FHIR base, e.g. `http://fhir-upstream.internal:8080/fhir` (no trailing slash).
    public let upstreamBase: String
    /// The gateway's public FHIR base, e.g. `https://gw.example:8443/fhir` (no trailing slash).
    public let publicBase: String

    public init(upstreamBase: String, publicBase: String) {
        self.upstreamBase = upstreamBase.hasSuffix("/") ? String(upstreamBase.dropLast()) : upstreamBase
        self.publicBase = publicBase.hasSuffix("/") ? String(publicBase.dropLast()) : publicBase
    }

    /// The URL under the public base; relative URLs and URLs already under the public base are returned as
    /// they are; nil for an absolute URL under any other base (it must not be shown or followed).
    public func rewrite(_ url: String) -> String? {
        if url == upstreamBase { return publicBase }
        if url.hasPrefix(upstreamBase), let next = url.dropFirst(upstreamBase.count).first, "/?".contains(next) {
            return publicBase + url.dropFirst(upstreamBase.count)
        }
        if url == publicBase || url.hasPrefix(publicBase + "/") || url.hasPrefix(publicBase + "?") { return url }
        return url.contains("://") || url.hasPrefix("//") ? nil : url
    }

    /// A `Location` or `Content-Location` header value for the client; nil means drop the header.
    public func rewriteHeader(_ value: String) -> String? { rewrite(value) }
}
