// The one HTTP request of `pdmp-gateway token`, made by curl through the gateway's own outbound runner
// (`CurlHTTPS.run`) with the body on stdin (the assertion never appears in `ps`). Not URLSession: on Linux
// swift-corelibs-foundation's URLSession offers no way to add a CA for `--cacert`, and FoundationNetworking
// would link libcurl into the binary (a static release build then needs libcurl's development files, and
// every host its shared library) for this one request.

import Foundation

enum TokenTransport {
    struct Response: Sendable {
        var status: Int
        var body: [UInt8]
    }

    /// POSTs a form body and returns the status and body. Throws when no HTTP response arrived. Without
    /// `caFile` the system trust store verifies the server.
    static func post(url: URL, body: String, caFile: String?, timeout: Double) throws(CommandFailure) -> Response {
        if let caFile, !FileManager.default.isReadableFile(atPath: caFile) {
            throw CommandFailure("cannot read the CA file \(caFile)")
        }
        return try viaCurl(url: url, body: body, caFile: caFile, timeout: timeout)
    }

    /// Through the shared curl runner (Sources/Gateway/Auth/CurlHTTPS.swift): the URL and the body go in
    /// on stdin, `~/.curlrc` is ignored, redirects are not followed, the answer is capped at 1 MiB.
    static func viaCurl(url: URL, body: String, caFile: String?, timeout: Double) throws(CommandFailure) -> Response {
        let request = CurlRequest(
            url: url.absoluteString, caFile: caFile, timeoutSeconds: timeout, maxBodyBytes: 1 << 20, formBody: body,
            allowPlainHTTP: true)
        do {
            let response = try CurlHTTPS.run(request)
            return Response(status: response.status, body: response.body)
        } catch {
            throw CommandFailure("cannot reach \(url.absoluteString): \(error.description)")
        }
    }
}
