// The `JWKSFetcher` the `JWKSCache` uses for external issuers (`auth.external_issuers[].jwks_url`) and for
// clients registered by `jwks_url` (issue #4 items 2 and 5). Only URLs from configuration reach it: the
// cache is keyed by configured URL and nothing in a token names one (JWT-06).

public import GatewayCore
public import SMART

/// Fetches JWK Sets over HTTPS with curl (see CurlHTTPS.swift for why, and for the guarantees).
public struct HTTPSJWKSFetcher: JWKSFetcher {
    /// A per-URL CA bundle (`external_issuers[].ca`); other URLs use the system trust store.
    let caFiles: [String: String]
    let timeoutSeconds: Double
    let maxBodyBytes: Int

    /// - Parameters:
    ///   - caFiles: CA bundle per JWKS URL, for issuers behind a private CA.
    ///   - timeoutSeconds: total time for one fetch.
    ///   - maxBodyBytes: the largest JWK Set accepted (a key set is a few KiB; 256 KiB is generous).
    public init(caFiles: [String: String] = [:], timeoutSeconds: Double = 5, maxBodyBytes: Int = 256 * 1024) {
        self.caFiles = caFiles
        self.timeoutSeconds = timeoutSeconds
        self.maxBodyBytes = maxBodyBytes
    }

    /// Fetches `url`; `completion` runs once, on a background queue.
    public func fetch(url: String, completion: @escaping @Sendable (Result<JWKSDocument, any Error>) -> Void) {
        let request = CurlRequest(
            url: url, caFile: caFiles[url], timeoutSeconds: timeoutSeconds, maxBodyBytes: maxBodyBytes)
        CurlHTTPS.perform(request) { result in
            // SMART 2.2 §"Signature verification": the key set SHALL NOT be cached beyond its max-age; the
            // cache also bounds the TTL itself.
            completion(result.map { JWKSDocument(body: $0.body, maxAge: $0.maxAge) }.mapError { $0 })
        }
    }
}

/// RFC 7662 introspection of opaque tokens against one configured authorization server
/// (`external_issuers[].introspection_url`). The gateway authenticates with HTTP Basic credentials
/// (`client_id`/`client_secret`, RFC 7662 §2.1) when configured.
public struct HTTPSIntrospector: Introspector {
    let url: String
    let caFile: String?
    let credentials: (user: String, password: String)?
    let timeoutSeconds: Double

    /// An introspector for `url`.
    public init(url: String, caFile: String?, clientID: String?, clientSecret: String?, timeoutSeconds: Double = 5) {
        self.url = url
        self.caFile = caFile
        self.credentials = clientID.map { ($0, clientSecret ?? "") }
        self.timeoutSeconds = timeoutSeconds
    }

    /// POSTs `token=…&token_type_hint=access_token` (RFC 7662 §2.1) and returns the JSON object answered.
    public func introspect(token: String, completion: @escaping @Sendable (Result<JSONObject, any Error>) -> Void) {
        let body = "token=" + Self.formEncode(token) + "&token_type_hint=access_token"
        let request = CurlRequest(
            url: url, caFile: caFile, timeoutSeconds: timeoutSeconds, maxBodyBytes: 64 * 1024, formBody: body,
            basicAuth: credentials)
        CurlHTTPS.perform(request) { result in
            completion(Result { () throws(any Error) -> JSONObject in
                let response = try result.get()
                guard case .object(let object) = try JSONValue.parse(response.body) else {
                    throw CurlFailure("introspection answer is not a JSON object")
                }
                return object
            })
        }
    }

    /// Percent-encodes everything but RFC 3986 unreserved characters.
    static func formEncode(_ value: String) -> String {
        let hex = Array("0123456789ABCDEF")
        var out = ""
        for byte in value.utf8 {
            switch byte {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2D, 0x2E, 0x5F, 0x7E:
                out.append(Character(Unicode.Scalar(byte)))
            default:
                out += "%" + String(hex[Int(byte >> 4)]) + String(hex[Int(byte & 0x0F)])
            }
        }
        return out
    }
}
