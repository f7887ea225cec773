// gzip (RFC 1952) over zlib, for upstream responses the gateway must inspect (ARCHITECTURE §1 step 5).
// Decompression is bounded: output beyond `maxOutputBytes` stops inflation and throws, so a small
// "zip bomb" body cannot exhaust memory.

import CZlib

/// Why gzip data could not be processed.
public enum GzipError: Error, Sendable, Equatable {
    /// The decompressed data would exceed the allowed size.
    case outputTooLarge
    /// The input is not valid gzip data (bad header, checksum, or trailing bytes).
    case invalidData
    /// The input ended before the gzip stream did.
    case truncated
    /// zlib could not be initialised.
    case internalError(Int32)
}

/// gzip compression helpers.
public enum Gzip {
    /// Decompresses one or more concatenated gzip members.
    ///
    /// - Parameters:
    ///   - bytes: The gzip data.
    ///   - maxOutputBytes: Largest decompressed size accepted.
    /// - Returns: The decompressed bytes.
    /// - Throws: ``GzipError/outputTooLarge`` when the output would exceed `maxOutputBytes`,
    ///   ``GzipError/invalidData`` or ``GzipError/truncated`` for malformed input.
    public static func decompress(_ bytes: [UInt8], maxOutputBytes: Int) throws(GzipError) -> [UInt8] {
        var stream = z_stream()
        // 15 + 16: a gzip wrapper only (no raw deflate or zlib wrapper accepted).
        let rc = CZlib_inflateInit2(&stream, 15 + 16)
        guard rc == Z_OK else { throw .internalError(rc) }
        defer { inflateEnd(&stream) }
        var output = [UInt8]()
        output.reserveCapacity(min(maxOutputBytes, max(bytes.count * 4, 1024)))
        var scratch = [UInt8](repeating: 0, count: 32 * 1024)
        let result: Result<Void, GzipError> = bytes.withUnsafeBufferPointer { input in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
            stream.avail_in = UInt32(input.count)
            return scratch.withUnsafeMutableBufferPointer { out in
                inflateAll(&stream, out, into: &output, max: maxOutputBytes)
            }
        }
        try result.get()
        return output
    }

    private static func inflateAll(
        _ stream: inout z_stream, _ out: UnsafeMutableBufferPointer<UInt8>, into output: inout [UInt8], max: Int
    ) -> Result<Void, GzipError> {
        guard stream.avail_in > 0 else { return .failure(.truncated) }
        while true {
            stream.next_out = out.baseAddress
            stream.avail_out = UInt32(out.count)
            let rc = inflate(&stream, Z_NO_FLUSH)
            let produced = out.count - Int(stream.avail_out)
            guard output.count + produced <= max else { return .failure(.outputTooLarge) }
            output.append(contentsOf: out[0..<produced])
            switch rc {
            case Z_STREAM_END:
                if stream.avail_in == 0 { return .success(()) }
                // Another gzip member follows (RFC 1952 §2.2); anything else is trailing garbage.
                guard stream.next_in.pointee == 0x1F, inflateReset(&stream) == Z_OK else {
                    return .failure(.invalidData)
                }
            case Z_OK:
                continue
            case Z_BUF_ERROR:
                if stream.avail_in == 0 { return .failure(.truncated) }
                continue
            default:
                return .failure(.invalidData)
            }
        }
    }

    /// Compresses `bytes` into one gzip member.
    ///
    /// - Parameters:
    ///   - bytes: The data.
    ///   - level: zlib level 0-9 (default 6).
    public static func compress(_ bytes: [UInt8], level: Int32 = 6) -> [UInt8] {
        var stream = z_stream()
        let rc = CZlib_deflateInit2(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY)
        precondition(rc == Z_OK, "deflateInit2 failed: \(rc)")  // only fails on bad arguments or no memory
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, UInt(bytes.count))) + 32
        var output = [UInt8](repeating: 0, count: bound)
        let written: Int = bytes.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
                stream.avail_in = UInt32(input.count)
                stream.next_out = out.baseAddress
                stream.avail_out = UInt32(out.count)
                let status = deflate(&stream, Z_FINISH)
                precondition(status == Z_STREAM_END, "deflate with a deflateBound buffer must finish")
                return out.count - Int(stream.avail_out)
            }
        }
        output.removeSubrange(written...)
        return output
    }
}
