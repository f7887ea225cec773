// Reading operator-supplied files (configuration, keys, certificates, policies) with errors that say why a
// file could not be read, in the operator's words: `path: no such file`, `path: permission denied`.
// Several loaders used to collapse every failure into one message ("cannot read file", or worse, "no
// signing keys"), which sent operators looking for the wrong problem.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file that could not be opened or read, with the reason from the system.
public struct FileAccessError: Error, CustomStringConvertible, Sendable {
    public let path: String
    /// `no such file`, `permission denied`, `is a directory`, or the system's own text.
    public let reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(path): \(reason)" }
}

public enum FileAccess {
    /// The whole file.
    public static func contents(_ path: String) throws(FileAccessError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileAccessError(path: path, reason: reason(errno)) }
        defer { close(fd) }
        var status = stat()
        if fstat(fd, &status) == 0, (status.st_mode & S_IFMT) == S_IFDIR {
            throw FileAccessError(path: path, reason: reason(EISDIR))
        }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count == 0 { return bytes }
            guard count > 0 else {
                if errno == EINTR { continue }
                throw FileAccessError(path: path, reason: reason(errno))
            }
            bytes.append(contentsOf: chunk[..<count])
        }
    }

    /// Nil when `path` can be opened for reading, else why not. Directories are checked for listing.
    public static func readProblem(_ path: String) -> FileAccessError? {
        guard access(path, R_OK) != 0 else { return nil }
        return FileAccessError(path: path, reason: reason(errno))
    }

    /// Nil when a file could be created in `directory` (or in the nearest existing parent, which the
    /// gateway would create it under), else why not.
    public static func writeProblem(directory: String) -> FileAccessError? {
        var candidate = directory
        while candidate != "/", access(candidate, F_OK) != 0 {
            guard let slash = candidate.lastIndex(of: "/") else { return nil }
            candidate = slash == candidate.startIndex ? "/" : String(candidate[..<slash])
        }
        guard access(candidate, W_OK | X_OK) != 0 else { return nil }
        return FileAccessError(path: candidate, reason: reason(errno))
    }

    /// The permission bits of a private key file that others may read, or that a group the process is not
    /// in may read (OpenSSH refuses such keys; the gateway warns). Group-readable is fine when the group is
    /// the gateway's own: the documented layouts are root-owned 0640 files of group `pdmp-gateway` on a
    /// host and 0440 Secret files of the pod's fsGroup on Kubernetes.
    public static func exposedPrivateKeyMode(_ path: String) -> UInt32? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        let mode = UInt32(status.st_mode) & 0o777
        if mode & 0o007 != 0 { return mode }
        if mode & 0o070 != 0, !processGroups().contains(status.st_gid) { return mode }
        return nil
    }

    /// The warning for a private key readable beyond the gateway's user and group, or nil.
    public static func privateKeyWarning(_ path: String) -> String? {
        guard let mode = exposedPrivateKeyMode(path) else { return nil }
        return "\(path): private key is accessible by other users (mode \(String(mode, radix: 8))); "
            + "chmod 600 it (or 640 with the gateway's group) so that only the gateway can read it"
    }

    /// The effective and supplementary group ids of this process.
    static func processGroups() -> Set<gid_t> {
        var groups = [gid_t](repeating: 0, count: 256)
        let count = getgroups(Int32(groups.count), &groups)
        return Set(groups.prefix(max(0, Int(count)))).union([getegid()])
    }

    static func reason(_ code: Int32) -> String {
        switch code {
        case ENOENT: "no such file"
        case EACCES, EPERM: "permission denied"
        case EISDIR: "is a directory"
        case ENOTDIR: "a parent is not a directory"
        default: String(cString: strerror(code))
        }
    }
}
