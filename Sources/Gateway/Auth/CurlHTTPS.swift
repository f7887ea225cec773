// Outbound HTTPS done with the `curl` program in a subprocess: for the authorization side (external
// issuers' JWKS, RFC 7662 introspection) on a Dispatch queue, never on an event loop (`perform`), and for
// `pdmp-gateway token --cacert` synchronously (`run`, through CLI/TokenTransport.swift).
//
// Why curl and not URLSession: FoundationNetworking on Linux offers no supported way to trust a private CA
// for one request (server-trust challenges are not delivered), and a per-issuer `ca` file is a requirement
// (issue #4 item 5). Why not the gateway's own upstream client: it is bound to one event loop and one
// upstream host. These fetches are rare (a JWKS refresh every few minutes, one introspection per opaque
// token per cache TTL), so a process per fetch costs nothing that matters.
//
// Guarantees, whatever the server does: https only (`--proto =https`; the CLI may allow http for tests),
// redirects are never followed (no `-L`; for `perform` any answer but 200, 3xx included, is a failed fetch,
// which is stricter than "no redirects to other hosts"), a total timeout, a
// body cap enforced while reading (curl's `--max-filesize` only sees a declared length), `~/.curlrc` is
// never read (`-q`), and secrets (introspection credentials, the token) go through stdin, not argv, so
// they never show in a process listing.

import Dispatch
import Foundation
import GatewayCore
import Synchronization

/// One outbound HTTPS request.
struct CurlRequest: Sendable {
    var url: String
    /// PEM CA bundle to verify the server; nil uses the system trust store.
    var caFile: String?
    /// Total time allowed (connect, TLS, transfer).
    var timeoutSeconds: Double = 5
    /// Largest accepted body; more is a failure.
    var maxBodyBytes = 256 * 1024
    /// `application/x-www-form-urlencoded` body; nil sends a GET.
    var formBody: String?
    /// HTTP Basic credentials (RFC 7662 §2.1 lets the resource server authenticate this way).
    var basicAuth: (user: String, password: String)?
    /// Also allow `http://` (only `pdmp-gateway token`, whose `--token-url` may be plain HTTP in tests).
    var allowPlainHTTP = false
}

/// What came back.
struct CurlResponse: Sendable {
    let status: Int
    /// `Cache-Control` of the response, if any.
    let cacheControl: String?
    let body: [UInt8]

    /// `max-age` from `Cache-Control` (RFC 9111 §5.2.2.1), if present and well formed.
    var maxAge: Double? {
        guard let cacheControl else { return nil }
        for directive in cacheControl.split(separator: ",") {
            let parts = directive.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "max-age", let seconds = Int(parts[1]), seconds >= 0 {
                return Double(seconds)
            }
        }
        return nil
    }
}

/// Why an outbound fetch failed (for logs; never shown to a client).
struct CurlFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

enum CurlHTTPS {
    /// The curl program; the Debian package installs it here.
    static let executable: String = {
        let candidates = ["/usr/bin/curl", "/usr/local/bin/curl", "/bin/curl"]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/usr/bin/curl"
    }()

    /// Runs in the background; fetches beyond `maxConcurrent` fail at once instead of queueing, so a flood
    /// of tokens cannot pile up processes (the callers fail closed).
    static let queue = DispatchQueue(label: "pdmp-gateway.outbound-https", attributes: .concurrent)
    static let maxConcurrent = 8
    private static let inFlight = Atomic<Int>(0)

    /// Performs `request` off the caller's thread; `completion` runs exactly once, on a queue thread.
    static func perform(
        _ request: CurlRequest, completion: @escaping @Sendable (Result<CurlResponse, CurlFailure>) -> Void
    ) {
        guard inFlight.add(1, ordering: .relaxed).newValue <= maxConcurrent else {
            inFlight.subtract(1, ordering: .relaxed)
            return completion(.failure(CurlFailure("too many outbound fetches in flight")))
        }
        queue.async {
            let result = Result { () throws(CurlFailure) in
                let response = try run(request)
                // 3xx included: redirects are never followed.
                guard response.status == 200 else { throw CurlFailure("HTTP status \(response.status)") }
                return response
            }
            inFlight.subtract(1, ordering: .relaxed)
            completion(result)
        }
    }

    /// Marker lines curl writes to stderr after the transfer (`--write-out` with `%{stderr}`).
    static let statusMarker = "pdmp-gateway-status:"
    static let cacheMarker = "pdmp-gateway-cache-control:"

    static func arguments(_ request: CurlRequest) -> [String] {
        var arguments = [
            "-q", "--silent", "--show-error", "--proto", request.allowPlainHTTP ? "=https,http" : "=https",
            "--max-redirs", "0",
            "--max-time", String(format: "%.3f", request.timeoutSeconds),
            "--max-filesize", String(request.maxBodyBytes), "--header", "Accept: application/json",
            "--output", "-", "--config", "-",
            "--write-out", "%{stderr}\n\(statusMarker)%{http_code}\n\(cacheMarker)%header{cache-control}\n",
        ]
        if let caFile = request.caFile { arguments += ["--cacert", caFile] }
        return arguments
    }

    /// The curl config read from stdin: the URL and every secret (RFC 7662 credentials, the form body).
    static func stdinConfig(_ request: CurlRequest) -> String {
        var lines = ["url = \"\(quoted(request.url))\""]
        if let body = request.formBody { lines.append("data = \"\(quoted(body))\"") }
        if let auth = request.basicAuth { lines.append("user = \"\(quoted(auth.user + ":" + auth.password))\"") }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Escapes for a double-quoted curl config value (backslash escapes; control bytes dropped).
    static func quoted(_ value: String) -> String {
        var out = ""
        for scalar in value.unicodeScalars where scalar.value >= 0x20 {
            if scalar == "\"" || scalar == "\\" { out += "\\" }
            out.unicodeScalars.append(scalar)
        }
        return out
    }

    /// Performs `request` on the calling thread and returns whatever status the server answered.
    static func run(_ request: CurlRequest) throws(CurlFailure) -> CurlResponse {
        let url = request.url.lowercased()
        guard url.hasPrefix("https://") || (request.allowPlainHTTP && url.hasPrefix("http://")) else {
            throw CurlFailure("not an https URL")
        }
        // ChildProcess, not Process: the child must not inherit the Dispatch thread's blocked signals or
        // serve's ignored SIGTERM, or the body cap below could not stop it (ChildProcess.swift).
        let child: ChildProcess
        do {
            child = try ChildProcess(executable: executable, arguments: arguments(request))
        } catch {
            throw CurlFailure("cannot start curl: \(error)")
        }
        try? child.stdin?.write(contentsOf: Data(stdinConfig(request).utf8))
        try? child.stdin?.close()
        guard let output = child.stdout, let errors = child.stderr else { throw CurlFailure("no pipes to curl") }
        let body = readCapped(output, cap: request.maxBodyBytes, child: child)
        let diagnostics = String(decoding: errors.readDataToEndOfFile(), as: UTF8.self)
        let exit = child.wait()
        guard let body else { throw CurlFailure("response body larger than \(request.maxBodyBytes) bytes") }
        return try response(status: exit, diagnostics: diagnostics, body: body)
    }

    /// Reads stdout until EOF; past `cap` bytes the child is stopped (SIGTERM) and nil returned.
    static func readCapped(_ handle: FileHandle, cap: Int, child: ChildProcess) -> [UInt8]? {
        var body: [UInt8] = []
        while true {
            let chunk = handle.availableData
            if chunk.isEmpty { return body }
            body.append(contentsOf: chunk)
            if body.count > cap {
                child.signal(SIGTERM)
                _ = handle.readDataToEndOfFile()
                return nil
            }
        }
    }

    static func response(status exit: Int32, diagnostics: String, body: [UInt8]) throws(CurlFailure) -> CurlResponse {
        var status: Int?
        var cacheControl: String?
        var messages: [Substring] = []
        for line in diagnostics.split(separator: "\n") {
            if line.hasPrefix(statusMarker) {
                status = Int(line.dropFirst(statusMarker.count))
            } else if line.hasPrefix(cacheMarker) {
                let value = line.dropFirst(cacheMarker.count).trimmingCharacters(in: .whitespaces)
                cacheControl = value.isEmpty ? nil : value
            } else {
                messages.append(line)
            }
        }
        guard exit == 0 else { throw CurlFailure("curl exit \(exit): \(messages.joined(separator: " | "))") }
        guard let status, status > 0 else { throw CurlFailure("no HTTP status") }
        return CurlResponse(status: status, cacheControl: cacheControl, body: body)
    }
}
