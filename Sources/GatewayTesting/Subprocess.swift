// Running helper programs from tests (curl, the Python recorder), with bounded waits.

public import Foundation
import Gateway

/// The result of a finished program.
public struct ProcessOutput: Sendable {
    public let status: Int32
    public let stdout: [UInt8]
    public let stderr: String

    public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
}

public enum Subprocess {
    /// Runs `executable` with `arguments` to completion, feeding `stdin`.
    public static func run(_ executable: String, _ arguments: [String], stdin: [UInt8] = []) throws -> ProcessOutput {
        // ChildProcess: a clean signal mask and dispositions, whatever thread the test runs on.
        let child = try ChildProcess(executable: executable, arguments: arguments)
        // The child may exit before reading everything (e.g. a server that closes early): not an error here.
        signal(SIGPIPE, SIG_IGN)
        if !stdin.isEmpty { try? child.stdin?.write(contentsOf: Data(stdin)) }
        try? child.stdin?.close()
        // Read both pipes concurrently so that neither can fill up and block the child.
        let errData = LockedData()
        let errThread = Thread { errData.set(child.stderr?.readDataToEndOfFile() ?? Data()) }
        errThread.start()
        let outData = child.stdout?.readDataToEndOfFile() ?? Data()
        let status = child.wait()
        while !errData.isSet { usleep(1000) }
        return ProcessOutput(status: status, stdout: Array(outData), stderr: String(decoding: errData.value, as: UTF8.self))
    }

    /// Starts a server program that prints one line when it is ready (e.g. `READY <port>`), and returns it
    /// running with that line's words. Its stderr is discarded; stop it with `kill(SIGKILL)`.
    /// - Throws: when it cannot start or ends before printing a line.
    public static func startServer(_ executable: String, _ arguments: [String]) throws -> (Process, [String]) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        var line = Data()
        let handle = out.fileHandleForReading
        while !line.contains(0x0A) {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        return (process, String(decoding: line, as: UTF8.self).split(whereSeparator: \.isWhitespace).map(String.init))
    }

    /// Finds a program on PATH (or the usual places).
    public static func which(_ name: String) -> String? {
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
            + ["/usr/bin", "/usr/local/bin", "/bin"]
        return paths.map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

final class LockedData: @unchecked Sendable {
    // Safe: guarded by `lock`.
    private let lock = NSLock()
    private var data: Data?

    func set(_ value: Data) {
        lock.lock()
        data = value
        lock.unlock()
    }

    var isSet: Bool {
        lock.lock()
        defer { lock.unlock() }
        return data != nil
    }

    var value: Data {
        lock.lock()
        defer { lock.unlock() }
        return data ?? Data()
    }
}
