// The upstream request is rebuilt from the model, never copied as bytes (ARCHITECTURE §1 step 4): the
// codec writes the request line, Host from configuration and a Content-Length it computes itself; framing
// and connection fields from the model are dropped, and a value that could split the message fails the
// exchange instead of reaching the upstream (attack-cases rule 7).

enum UpstreamRequestSerializer {
    /// Methods for which an empty body is sent without `Content-Length: 0`.
    static let lengthOptionalMethods: Set<String> = ["GET", "HEAD", "DELETE"]

    /// Bodies up to this size are sent in the same write as the head; larger ones are written as they are,
    /// without copying them into the head buffer.
    static let inlineBodyLimit = 16 * 1024

    /// The head (with the body appended when small) and the body still to write separately, or nil
    /// when a field could split the message.
    static func serialize(_ request: HTTPRequest, hostHeader: String) -> (head: [UInt8], separateBody: [UInt8])? {
        guard !request.method.isEmpty, request.method.utf8.allSatisfy(isTokenChar),
            request.target.first == "/", request.target.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F })
        else { return nil }
        guard request.headers.allSatisfy({ HTTP1Serializer.isSafeField(name: $0.name, value: $0.value) }) else {
            return nil
        }
        var out: [UInt8] = []
        let inline = request.body.count <= inlineBodyLimit
        out.reserveCapacity(512 + (inline ? request.body.count : 0))
        out.append(contentsOf: "\(request.method) \(request.target) HTTP/1.1\r\n".utf8)
        HTTP1Serializer.appendField(&out, "Host", hostHeader)
        for (name, value) in request.headers where !HTTP1Serializer.isOwned(name) {
            if name.caseInsensitiveEquals("Host") || name.caseInsensitiveEquals("Expect") { continue }
            HTTP1Serializer.appendField(&out, name, value)
        }
        if !(request.body.isEmpty && lengthOptionalMethods.contains(request.method)) {
            HTTP1Serializer.appendField(&out, "Content-Length", String(request.body.count))
        }
        out.append(contentsOf: HTTP1Serializer.crlf)
        if inline {
            out.append(contentsOf: request.body)
            return (out, [])
        }
        return (out, request.body)
    }

    /// Idempotent methods (RFC 9110 §9.2.2) may be retried when they never reached the upstream.
    static let idempotentMethods: Set<String> = ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]
}
