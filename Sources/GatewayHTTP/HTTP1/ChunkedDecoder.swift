// A strict decoder for the chunked transfer coding (RFC 9112 §7.1). Deliberately narrower than the
// grammar: no whitespace around the chunk size, CRLF only, exactly CRLF after chunk data, bounded chunk
// extensions and trailers. Anything else is a framing error, because two parsers that disagree on chunk
// boundaries are how requests get smuggled (SMG-01).

struct ChunkedDecoder {
    enum Step {
        /// `consumed` input bytes were used; `data` ranges (relative to the input) are body bytes.
        case progress(consumed: Int)
        /// The last chunk and the trailer section ended after `consumed` bytes.
        case finished(consumed: Int)
        case failed(HTTPParseError)
    }

    private enum State {
        case size, sizeCR, extensions, data, dataCR, dataLF, trailerLineStart, trailerLine, trailerCR, finalLF
    }

    /// Whether a non-empty trailer section is accepted (and ignored) or refused.
    let allowTrailers: Bool
    private var state = State.size
    private var size: UInt64 = 0
    private var sizeDigits = 0
    private var remaining: UInt64 = 0
    private var lineBytes = 0
    private var trailerBytes = 0
    private static let maxLineBytes = 4096
    private static let maxTrailerBytes = 16 * 1024

    init(allowTrailers: Bool) {
        self.allowTrailers = allowTrailers
    }

    /// Decodes from `input`, calling `emit` with each run of body bytes. Stops at the end of the body.
    mutating func decode(_ input: UnsafeRawBufferPointer, emit: (UnsafeRawBufferPointer) -> Bool) -> Step {
        var i = 0
        while i < input.count {
            if state == .data {
                let n = Int(min(UInt64(input.count - i), remaining))
                guard emit(UnsafeRawBufferPointer(rebasing: input[i..<(i + n)])) else {
                    return .failed(HTTPParseError(status: 413, reason: "body_too_large", message: "body too large"))
                }
                i += n
                remaining -= UInt64(n)
                if remaining == 0 { state = .dataCR }
                continue
            }
            let byte = input[i]
            i += 1
            if let error = step(byte) { return .failed(error) }
            if state == .finalLF && byte == lf { return .finished(consumed: i) }
        }
        return .progress(consumed: i)
    }

    // Returns an error, or nil to continue. `.finalLF` after consuming LF means done.
    private mutating func step(_ byte: UInt8) -> HTTPParseError? {
        switch state {
        case .size: return stepSize(byte)
        case .extensions:
            lineBytes += 1
            if byte == cr { state = .sizeCR; return nil }
            guard lineBytes <= Self.maxLineBytes, byte == ht || (byte >= 0x20 && byte != 0x7F) else {
                return .bad("invalid_chunk_extension", "invalid chunk extension")
            }
            return nil
        case .sizeCR:
            guard byte == lf else { return .bad("invalid_chunk_size", "chunk size line must end in CRLF") }
            if size == 0 {
                state = .trailerLineStart
            } else {
                remaining = size
                state = .data
            }
            return nil
        case .data: return nil  // handled in decode
        case .dataCR:
            guard byte == cr else { return .bad("invalid_chunk_data", "chunk data not followed by CRLF") }
            state = .dataLF
            return nil
        case .dataLF:
            guard byte == lf else { return .bad("invalid_chunk_data", "chunk data not followed by CRLF") }
            resetSize()
            return nil
        case .trailerLineStart, .trailerLine, .trailerCR, .finalLF: return stepTrailer(byte)
        }
    }

    private mutating func stepSize(_ byte: UInt8) -> HTTPParseError? {
        if let digit = hexValue(byte) {
            sizeDigits += 1
            guard sizeDigits <= 15 else { return .bad("invalid_chunk_size", "chunk size too large") }
            size = size << 4 | UInt64(digit)
            return nil
        }
        guard sizeDigits > 0 else { return .bad("invalid_chunk_size", "invalid chunk size") }
        switch byte {
        case cr: state = .sizeCR
        case UInt8(ascii: ";"): state = .extensions
        default: return .bad("invalid_chunk_size", "invalid chunk size")
        }
        return nil
    }

    private mutating func stepTrailer(_ byte: UInt8) -> HTTPParseError? {
        switch state {
        case .trailerLineStart:
            if byte == cr { state = .finalLF; return nil }
            guard allowTrailers else { return .bad("trailers_not_accepted", "trailer fields are not accepted") }
            guard isTokenChar(byte) else { return .bad("invalid_trailer", "invalid trailer field") }
            state = .trailerLine
        case .trailerLine:
            if byte == cr { state = .trailerCR; return nil }
            guard byte == ht || (byte >= 0x20 && byte != 0x7F) else {
                return .bad("invalid_trailer", "invalid trailer field")
            }
        case .trailerCR:
            guard byte == lf else { return .bad("bare_cr", "CR not followed by LF") }
            state = .trailerLineStart
        case .finalLF:
            guard byte == lf else { return .bad("bare_cr", "CR not followed by LF") }
            return nil
        default: break
        }
        trailerBytes += 1
        return trailerBytes > Self.maxTrailerBytes ? .bad("invalid_trailer", "trailer section too large") : nil
    }

    private mutating func resetSize() {
        state = .size
        size = 0
        sizeDigits = 0
        lineBytes = 0
    }

    private func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
