// The one HTTP request of `pdmp-gateway token`. Foundation's URLSession is used when the system trust store
// suffices. On Linux, swift-corelibs-foundation's URLSession always verifies against the system bundle and
// offers no way to add a CA (no server-trust challenge, no CA-file setting), so with `--cacert` the request
// is made by `curl --cacert FILE` instead, with the body on stdin (the assertion never appears in `ps`).

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

    static func viaCurl(url: URL, body: String, caFile: String, timeout: Double) throws(CommandFailure) -> Response {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "curl", "--silent", "--show-error", "--proto", "=https,http", "--max-time", String(Int(timeout)),
            "--cacert", caFile, "--request", "POST",
            "--header", "Content-Type: application/x-www-form-urlencoded", "--header", "Accept: application/json",
            "--data-binary", "@-", "--write-out", "\n%{http_code}", url.absoluteString,
        ]
        let input = Pipe()
        let output = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        do {
            try process.run()
        } catch {
            throw CommandFailure("--cacert needs curl, which could not be started: \(error)")
        }
        input.fileHandleForWriting.write(Data(body.utf8))
        try? input.fileHandleForWriting.close()
        let out = [UInt8](output.fileHandleForReading.readDataToEndOfFile())
        let err = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        // The last line is the status that --write-out appended; "000" when no response arrived.
        let split = out.lastIndex(of: 0x0A) ?? 0
        let status = Int(String(decoding: out[(out.isEmpty ? 0 : split + 1)...], as: UTF8.self)) ?? 0
        guard process.terminationStatus == 0, status != 0 else {
            let reason = err.trimmingCharacters(in: .whitespacesAndNewlines)
            throw CommandFailure("cannot reach \(url.absoluteString): \(reason.isEmpty ? "curl failed" : reason)")
        }
        return Response(status: status, body: Array(out[..<split]))
    }
}
