// Child processes that start with a clean signal state: nothing blocked, every signal at its default.
//
// Why not Foundation's `Process`: on Linux it hands the child whatever the spawning thread and process had.
// execve(2) keeps both the signal mask and ignored dispositions (POSIX.1-2017, exec: "Signals set to be
// ignored ... shall be set to be ignored"; "the new process image shall inherit the signal mask"), and
// posix_spawn(3) resets them only when asked (POSIX_SPAWN_SETSIGMASK, POSIX_SPAWN_SETSIGDEF). In the gateway
// both are wrong: Dispatch worker threads block almost every signal, and `serve` sets SIGTERM, SIGINT and
// SIGHUP to SIG_IGN before watching them with DispatchSource. A curl started from there ignored SIGTERM, so
// the body cap could not stop it (the read went on until curl's own --max-time); a redis-server started
// from a test thread could not be stopped at all. Every spawn in the gateway and its tests goes through here.

#if canImport(Glibc)
    public import Glibc
#elseif canImport(Darwin)
    public import Darwin
#endif
public import Foundation

/// A running (or finished) child process with optional pipes to its standard streams.
public final class ChildProcess: @unchecked Sendable {
    // Safe: `pid` and the handles are immutable; `exitStatus` is guarded by `lock`.

    /// What one of the child's standard streams is connected to.
    public enum Stream: Sendable {
        /// A pipe; the parent's end is in `stdin`/`stdout`/`stderr`.
        case pipe
        /// /dev/null.
        case null
        /// The parent's own stream.
        case inherit
    }

    public let pid: pid_t
    /// The write end of the child's stdin, if `.pipe`.
    public let stdin: FileHandle?
    /// The read end of the child's stdout, if `.pipe`.
    public let stdout: FileHandle?
    /// The read end of the child's stderr, if `.pipe`.
    public let stderr: FileHandle?
    private let lock = NSLock()
    private var exitStatus: Int32?

    /// Starts `executable` (an absolute path) with `arguments`. The child gets an empty signal mask, default
    /// dispositions for every signal.
    /// Held from creating the pipes until the child ends are closed, so that concurrent spawns cannot pass
    /// each other's pipe ends on (before their CLOEXEC is set).
    private static let spawning = NSLock()

    public init(
        executable: String, arguments: [String], environment: [String: String]? = nil,
        stdin: Stream = .pipe, stdout: Stream = .pipe, stderr: Stream = .pipe
    ) throws {
        Self.spawning.lock()
        defer { Self.spawning.unlock() }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var parentEnds: [FileHandle?] = []
        var childEnds: [Int32] = []
        defer { for fd in childEnds { close(fd) } }
        for (target, stream) in [(Int32(0), stdin), (1, stdout), (2, stderr)] {
            switch stream {
            case .inherit:
                parentEnds.append(nil)
            case .null:
                posix_spawn_file_actions_addopen(&actions, target, "/dev/null", target == 0 ? O_RDONLY : O_WRONLY, 0)
                parentEnds.append(nil)
            case .pipe:
                var fds: [Int32] = [-1, -1]
                guard pipe(&fds) == 0 else {
                    for handle in parentEnds { try? handle?.close() }
                    throw SpawnFailure("pipe: \(String(cString: strerror(errno)))")
                }
                // CLOEXEC so that no other child started meanwhile keeps a pipe end open (pipe2 is not
                // visible to Swift; ChildProcess spawns are serialized by `spawning`).
                _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
                _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
                // The child reads its stdin from fds[0] and writes stdout/stderr to fds[1].
                let (childEnd, parentEnd) = target == 0 ? (fds[0], fds[1]) : (fds[1], fds[0])
                childEnds.append(childEnd)
                posix_spawn_file_actions_adddup2(&actions, childEnd, target)
                parentEnds.append(FileHandle(fileDescriptor: parentEnd, closeOnDealloc: true))
            }
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var all = sigset_t()
        sigfillset(&all)
        sigdelset(&all, SIGKILL)
        sigdelset(&all, SIGSTOP)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let env = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in env { free(pointer) } }
        var child: pid_t = 0
        let status = posix_spawn(&child, executable, &actions, &attributes, argv, env)
        guard status == 0 else {
            for handle in parentEnds { try? handle?.close() }
            throw SpawnFailure("cannot start \(executable): \(String(cString: strerror(status)))")
        }
        pid = child
        self.stdin = parentEnds[0]
        self.stdout = parentEnds[1]
        self.stderr = parentEnds[2]
    }

    /// Sends `number` to the child unless it has already been reaped.
    public func signal(_ number: Int32) {
        lock.lock()
        defer { lock.unlock() }
        if exitStatus == nil { kill(pid, number) }
    }

    /// Whether the child has not exited yet (reaps it if it has).
    public var isRunning: Bool {
        lock.lock()
        defer { lock.unlock() }
        return reap(options: WNOHANG) == nil
    }

    /// Waits for the child to exit; its exit code, or 128 + the signal that ended it (as a shell reports).
    @discardableResult
    public func wait() -> Int32 {
        // Block until it has exited without reaping it (WNOWAIT), so that `signal` can never reach a reused
        // pid; the reaping happens under the lock.
        var info = siginfo_t()
        while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) == -1 && errno == EINTR {}
        lock.lock()
        defer { lock.unlock() }
        while true {
            if let status = reap(options: 0) { return status }
        }
    }

    /// Calls waitpid once (retrying EINTR); the decoded status once the child is gone. Caller holds `lock`.
    private func reap(options: Int32) -> Int32? {
        if let exitStatus { return exitStatus }
        var raw: Int32 = 0
        var result: pid_t
        repeat { result = waitpid(pid, &raw, options) } while result == -1 && errno == EINTR
        if result == 0 { return nil }
        // -1 (ECHILD) only if someone else reaped it; report it as gone.
        let signal = raw & 0x7f
        let decoded = result == -1 ? 255 : (signal == 0 ? (raw >> 8) & 0xff : 128 + signal)
        exitStatus = decoded
        return decoded
    }

    deinit {
        // Never leave a zombie behind: an unwaited child is reaped once it exits.
        if exitStatus == nil, waitpid(pid, nil, WNOHANG) == 0 {
            let pid = self.pid
            Thread.detachNewThread { _ = waitpid(pid, nil, 0) }
        }
    }
}

/// Why a child could not be started.
public struct SpawnFailure: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
