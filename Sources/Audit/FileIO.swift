// Thin POSIX file calls for the audit files: EINTR retried, short writes continued, errors returned as
// text for logs (STYLE §11). Only the writer and shipper threads call these; never an event loop.

import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A failed file operation: what was attempted and the errno text.
struct FileIOError: Error, CustomStringConvertible {
    var operation: String
    var path: String
    var code: Int32

    init(_ operation: String, _ path: String, _ code: Int32 = errno) {
        self.operation = operation
        self.path = path
        self.code = code
    }

    var description: String { "\(operation) \(path): \(String(cString: strerror(code)))" }
}

enum FileIO {
    /// Creates `directory` and its missing parents (`mkdir -p`); fails when a component is not a directory.
    static func makeDirectory(_ directory: String) throws(FileIOError) {
        var path = directory.hasPrefix("/") ? "" : "."
        for component in directory.split(separator: "/") {
            path += "/" + component
            if mkdir(path, 0o750) == 0 || errno == EEXIST {
                var info = stat()
                guard stat(path, &info) == 0 else { throw FileIOError("stat", path) }
                guard (info.st_mode & S_IFMT) == S_IFDIR else { throw FileIOError("mkdir", path, ENOTDIR) }
                continue
            }
            throw FileIOError("mkdir", path)
        }
    }

    /// Names in `directory`, sorted.
    static func list(_ directory: String) throws(FileIOError) -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        } catch {
            throw FileIOError("list", directory, ENOENT)
        }
    }

    /// The whole content of `path`.
    static func read(_ path: String) throws(FileIOError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileIOError("open", path) }
        defer { close(fd) }
        var out = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileIOError("read", path)
            }
            if n == 0 { return out }
            out.append(contentsOf: chunk[0..<n])
        }
    }

    /// Reads up to `count` bytes of `path` from `offset`.
    static func read(_ path: String, offset: Int, count: Int) throws(FileIOError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileIOError("open", path) }
        defer { close(fd) }
        var out = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let n = out.withUnsafeMutableBytes {
                pread(fd, $0.baseAddress! + filled, count - filled, off_t(offset + filled))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileIOError("read", path)
            }
            if n == 0 { break }
            filled += n
        }
        return Array(out[0..<filled])
    }

    /// Opens `path` for appending; with `create`, creates it and fails if it exists.
    static func openForAppend(_ path: String, create: Bool) throws(FileIOError) -> Int32 {
        let flags = O_WRONLY | O_APPEND | O_CLOEXEC | (create ? (O_CREAT | O_EXCL) : 0)
        let fd = open(path, flags, 0o640)
        guard fd >= 0 else { throw FileIOError(create ? "create" : "open", path) }
        return fd
    }

    /// Writes all of `bytes` to `fd`.
    static func write(_ fd: Int32, _ bytes: [UInt8], path: String) throws(FileIOError) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, bytes.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileIOError("write", path)
            }
            done += n
        }
    }

    /// Flushes file data (and the metadata needed to read it back) to stable storage.
    static func syncData(_ fd: Int32, path: String) throws(FileIOError) {
        while fdatasync(fd) != 0 {
            if errno != EINTR { throw FileIOError("fdatasync", path) }
        }
    }

    static func truncate(_ fd: Int32, to length: Int, path: String) throws(FileIOError) {
        while ftruncate(fd, off_t(length)) != 0 {
            if errno != EINTR { throw FileIOError("ftruncate", path) }
        }
    }

    /// Makes a directory entry change (create, rename) durable.
    static func syncDirectory(_ directory: String) throws(FileIOError) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw FileIOError("open", directory) }
        defer { close(fd) }
        while fsync(fd) != 0 {
            if errno != EINTR { throw FileIOError("fsync", directory) }
        }
    }

    /// Writes `bytes` to a new file at `path` durably (temp file, fsync, rename, directory fsync).
    static func writeAtomically(_ bytes: [UInt8], to path: String, directory: String) throws(FileIOError) {
        let temp = path + ".tmp"
        unlink(temp)
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw FileIOError("create", temp) }
        do {
            try write(fd, bytes, path: temp)
            try syncData(fd, path: temp)
        } catch {
            close(fd)
            throw error
        }
        close(fd)
        guard rename(temp, path) == 0 else { throw FileIOError("rename", path) }
        try syncDirectory(directory)
    }

    static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }
}
