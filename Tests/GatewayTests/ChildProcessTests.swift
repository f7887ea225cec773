// ChildProcess starts children with a clean signal state, whatever the spawning thread blocks and whatever
// the parent ignores (the gateway spawns curl from Dispatch threads; `serve` ignores SIGTERM/SIGINT/SIGHUP
// while DispatchSource watches them). Observed from the outside, in the child's /proc status.

import Dispatch
import Foundation
import Gateway
import Testing

@Suite("Child processes")
struct ChildProcessTests {
    /// The child's blocked and ignored signal sets (hex masks from /proc/PID/status).
    static func signalState(_ pid: pid_t) throws -> (blocked: UInt64, ignored: UInt64) {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        func mask(_ name: String) -> UInt64? {
            status.split(separator: "\n").first { $0.hasPrefix(name + ":") }
                .flatMap { UInt64($0.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces), radix: 16) }
        }
        return (try #require(mask("SigBlk")), try #require(mask("SigIgn")))
    }

    @Test("a child spawned from a thread that blocks SIGTERM, in a process that ignores SIGHUP, starts clean and dies of SIGTERM")
    func cleanSignalState() async throws {
        let (child, parentBlocked): (ChildProcess, Bool) = try await withCheckedThrowingContinuation { continuation in
            DispatchQueue(label: "child-process-test").async {
                var block = sigset_t()
                sigemptyset(&block)
                sigaddset(&block, SIGTERM)
                var previous = sigset_t()
                pthread_sigmask(SIG_BLOCK, &block, &previous)
                defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
                var current = sigset_t()
                pthread_sigmask(SIG_BLOCK, nil, &current)
                let blocked = sigismember(&current, SIGTERM) == 1
                continuation.resume(with: Result { (try ChildProcess(executable: "/bin/sleep", arguments: ["60"]), blocked) })
            }
        }
        #expect(parentBlocked, "the spawning thread did block SIGTERM")
        let state = try Self.signalState(child.pid)
        #expect(state.blocked == 0, "\(String(state.blocked, radix: 16))")
        // Signals 1...31 only: glibc's posix_spawn itself leaves its two internal real-time signals ignored.
        #expect(state.ignored & 0x7fff_ffff == 0, "\(String(state.ignored, radix: 16))")
        #expect(child.isRunning)
        child.signal(SIGTERM)
        #expect(child.wait() == 128 + SIGTERM)
        #expect(!child.isRunning)
    }

    @Test("pipes carry stdin to stdout and stderr separately; the exit code comes back")
    func pipes() throws {
        let child = try ChildProcess(executable: "/bin/sh", arguments: ["-c", "cat; echo oops >&2; exit 3"])
        try child.stdin?.write(contentsOf: Data("hello".utf8))
        try child.stdin?.close()
        let out = child.stdout?.readDataToEndOfFile() ?? Data()
        let err = child.stderr?.readDataToEndOfFile() ?? Data()
        #expect(child.wait() == 3)
        #expect(String(decoding: out, as: UTF8.self) == "hello")
        #expect(String(decoding: err, as: UTF8.self) == "oops\n")
    }

    @Test("a program that does not exist is an error, not a crash")
    func missingProgram() {
        #expect(throws: SpawnFailure.self) {
            try ChildProcess(executable: "/nonexistent/program", arguments: [])
        }
    }
}
