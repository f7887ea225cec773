// A byte-level validator for an HTTP/1.1 message head (start line plus field lines), run before
// http_parser sees the bytes. http_parser as built by Debian is lenient (it accepts bare LF, obs-fold
// and some control bytes), so the strict rules of RFC 9112 live here:
// - lines end in CRLF; a bare LF or bare CR is refused (RFC 9112 §2.2: we choose to reject, not repair);
// - obs-fold (a field line starting with SP/HT) is refused (RFC 9112 §5.2);
// - field names are tokens, with no whitespace before the colon (RFC 9112 §5.1, RFC 9110 §5.1);
// - field values hold no control characters other than HTAB, and no NUL (RFC 9110 §5.5);
// - the start line holds only visible ASCII and SP;
// - sizes and counts are bounded (HDR-05).
// The scan is incremental: it resumes where it stopped, so a head trickled byte by byte costs O(n).

/// Table of RFC 9110 §5.6.2 `tchar` bytes.
let tokenCharTable: [Bool] = (0..<256).map { byte in
    switch UInt8(byte) {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
        UInt8(ascii: "0")...UInt8(ascii: "9"):
        return true
    default:
        return "!#$%&'*+-.^_`|~".utf8.contains(UInt8(byte))
    }
}

@inline(__always) func isTokenChar(_ byte: UInt8) -> Bool { tokenCharTable[Int(byte)] }

struct HeadScanner {
    enum Outcome: Equatable {
        /// All readable bytes are valid so far; more are needed.
        case needMore
        /// The start line ends at this offset (exclusive, CRLF excluded); call `scan` again to continue.
        case startLine(end: Int)
        /// The head is complete and `length` bytes long (including the final empty line).
        case complete(length: Int)
        case failed(HTTPParseError)
    }

    private enum State {
        case startLine, startLineCR, lineStart, name, value, valueCR, finalCR
    }

    let isRequest: Bool
    let maxStartLine: Int
    let maxHeaderBytes: Int
    let maxHeaderCount: Int

    private var state = State.startLine
    private var offset = 0
    private var startLineEnd = 0
    private var headerCount = 0

    init(isRequest: Bool, maxStartLine: Int, maxHeaderBytes: Int, maxHeaderCount: Int) {
        self.isRequest = isRequest
        self.maxStartLine = maxStartLine
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
    }

    /// True once any byte of the current head was scanned.
    var hasStarted: Bool { offset > 0 }

    mutating func reset() {
        state = .startLine
        offset = 0
        startLineEnd = 0
        headerCount = 0
    }

    /// Scans `bytes` (the whole head received so far, from its first byte) from where it last stopped.
    mutating func scan(_ bytes: UnsafeRawBufferPointer) -> Outcome {
        while offset < bytes.count {
            if state == .value {
                // Fast path over the bulk of a field value: plain visible bytes need no state change.
                var i = offset
                while i < bytes.count, case let b = bytes[i], b >= 0x20 && b != 0x7F || b == ht { i += 1 }
                offset = i
                if let outcome = checkHeaderBytes() { return outcome }
                if offset == bytes.count { break }
            }
            let byte = bytes[offset]
            offset += 1
            if let outcome = step(byte) { return outcome }
        }
        return .needMore
    }

    private mutating func step(_ byte: UInt8) -> Outcome? {
        switch state {
        case .startLine: return stepStartLine(byte)
        case .startLineCR:
            guard byte == lf else { return .failed(.bad("bare_cr", "CR not followed by LF")) }
            startLineEnd = offset - 2
            state = .lineStart
            return .startLine(end: startLineEnd)
        case .lineStart: return stepLineStart(byte)
        case .name: return stepName(byte)
        case .value: return stepValue(byte)
        case .valueCR:
            guard byte == lf else { return .failed(.bad("bare_cr", "CR not followed by LF")) }
            state = .lineStart
            return checkHeaderBytes()
        case .finalCR:
            guard byte == lf else { return .failed(.bad("bare_cr", "CR not followed by LF")) }
            return .complete(length: offset)
        }
    }

    private mutating func stepStartLine(_ byte: UInt8) -> Outcome? {
        if byte == cr {
            state = .startLineCR
            return nil
        }
        if offset - 1 >= maxStartLine { return .failed(startLineTooLong()) }
        switch byte {
        case lf: return .failed(.bad("bare_lf", "line ends in a bare LF"))
        case 0x20...0x7E: break
        default: return .failed(.bad("control_character", "invalid byte in the start line"))
        }
        return nil
    }

    private mutating func stepLineStart(_ byte: UInt8) -> Outcome? {
        switch byte {
        case cr:
            state = .finalCR
        case lf:
            return .failed(.bad("bare_lf", "line ends in a bare LF"))
        case sp, ht:
            return .failed(.bad("obs_fold", "obsolete line folding is not accepted"))
        default:
            guard isTokenChar(byte) else {
                return .failed(.bad("invalid_header_name", "invalid character in a header name"))
            }
            headerCount += 1
            if headerCount > maxHeaderCount {
                let error = HTTPParseError(status: 431, reason: "too_many_headers", message: "too many header fields")
                return .failed(error)
            }
            state = .name
        }
        return checkHeaderBytes()
    }

    private mutating func stepName(_ byte: UInt8) -> Outcome? {
        if byte == colon {
            state = .value
        } else if !isTokenChar(byte) {
            return .failed(.bad("invalid_header_name", "invalid character in a header name"))
        }
        return checkHeaderBytes()
    }

    private mutating func stepValue(_ byte: UInt8) -> Outcome? {
        switch byte {
        case cr: state = .valueCR
        case lf: return .failed(.bad("bare_lf", "line ends in a bare LF"))
        case ht, 0x20...0x7E, 0x80...0xFF: break
        default: return .failed(.bad("control_character", "control character in a header value"))
        }
        return checkHeaderBytes()
    }

    private func checkHeaderBytes() -> Outcome? {
        guard offset - startLineEnd - 2 > maxHeaderBytes else { return nil }
        return .failed(HTTPParseError(status: 431, reason: "headers_too_large", message: "header block too large"))
    }

    private func startLineTooLong() -> HTTPParseError {
        isRequest
            ? HTTPParseError(status: 414, reason: "request_line_too_long", message: "request line too long")
            : .bad("status_line_too_long", "status line too long")
    }
}

let cr = UInt8(ascii: "\r")
let lf = UInt8(ascii: "\n")
let sp = UInt8(ascii: " ")
let ht = UInt8(ascii: "\t")
let colon = UInt8(ascii: ":")
