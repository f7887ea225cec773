// The one HTTP request of `pdmp-gateway token`. Foundation's URLSession is used when the system trust store
// suffices. On Linux, swift-corelibs-foundation's URLSession always verifies against the system bundle and
// offers no way to add a CA (no server-trust challenge, no CA-file setting), so with `--cacert` the request
// is made by curl with the gateway's own outbound runner (`CurlHTTPS.run`), with the body on stdin (the
// assertion never appears in `ps`).

import Dispatch
import Foundation
import Synchronization
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

enum TokenTransport {
    struct Response: Sendable {
        var status: Int
        var body: [UInt8]
    }

    /// POSTs a form body and returns the status and body. Throws when no HTTP response arrived.
    static func post(url: URL, body: String, caFile: String?, timeout: Double) throws(CommandFailure) -> Response {
        if let caFile {
            guard FileManager.default.isReadableFile(atPath: caFile) else {
                throw CommandFailure("cannot read the CA file \(caFile)")
            }
            return try viaCurl(url: url, body: body, caFile: caFile, timeout: timeout)
        }
        return try viaURLSession(url: url, body: body, timeout: timeout)
    }

    static func viaURLSession(url: URL, body: String, timeout: Double) throws(CommandFailure) -> Response {
        var request = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: timeout)
        request.httpMethod = "POST"
        request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
        request.setValue("application/json", forHTTPHeaderField: "Accept")
        request.httpBody = Data(body.utf8)
        let session = URLSession(configuration: .ephemeral)
        defer { session.finishTasksAndInvalidate() }
        let done = DispatchSemaphore(value: 0)
        let outcome = Mutex<Result<Response, CommandFailure>>(.failure(CommandFailure("no response")))
        let task = session.dataTask(with: request) { data, response, error in
            let result: Result<Response, CommandFailure>
            if let http = response as? HTTPURLResponse {
                result = .success(Response(status: http.statusCode, body: data.map { [UInt8]($0) } ?? []))
            } else {
                let reason = error.map { $0.localizedDescription } ?? "no HTTP response"
                result = .failure(CommandFailure("cannot reach \(url.absoluteString): \(reason)"))
            }
            outcome.withLock { $0 = result }
            done.signal()
        }
        task.resume()
        done.wait()
        return try outcome.withLock { $0 }.get()
    }

    /// Through the shared curl runner (Sources/Gateway/Auth/CurlHTTPS.swift): the URL and the body go in
    /// on stdin, `~/.curlrc` is ignored, redirects are not followed, the answer is capped at 1 MiB.
    static func viaCurl(url: URL, body: String, caFile: String, timeout: Double) throws(CommandFailure) -> Response {
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
