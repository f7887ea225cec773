// Hot reload on file change (issue #6 item 5): a background thread polls the policy directory once a
// second and asks the runtime to reload when a policy file was added, removed or changed. It watches the
// requester registry (`auth.clients`) too, so that `pdmp-gateway clients suspend` reaches every instance
// that reads the file within about a second (issue #8 item 3), without a SIGHUP. Polling (not
// inotify) keeps it portable and cheap: one `readdir` and a `stat` per file per second. The reload itself
// validates the new set and keeps the old one when it is broken, exactly as SIGHUP and /admin/reload do.

import Foundation
import Synchronization

/// Watches the policy directory and reloads the runtime when it changes.
final class PolicyWatcher: Sendable {
    /// What is compared between two polls: name, modification time and size of every policy file.
    struct Fingerprint: Equatable {
        var entries: [String: [Int]] = [:]
    }

    private let interval: Double
    private let directory: @Sendable () -> String
    private let files: @Sendable () -> [String]
    private let onChange: @Sendable () -> Void
    private let state = Mutex<(stopping: Bool, started: Bool)>((false, false))
    private let wake = NSCondition()
    private let finished = DispatchSemaphore(value: 0)

    /// - Parameters:
    ///   - interval: seconds between polls.
    ///   - directory: the policy directory to watch (read at every poll: a reload may change it).
    ///   - files: single files to watch as well (read at every poll).
    ///   - onChange: called on the watcher thread after a change is seen (the runtime's reload).
    init(
        interval: Double = 1, directory: @escaping @Sendable () -> String,
        files: @escaping @Sendable () -> [String] = { [] }, onChange: @escaping @Sendable () -> Void
    ) {
        self.interval = interval
        self.directory = directory
        self.files = files
        self.onChange = onChange
    }

    /// Starts the polling thread (once).
    func start() {
        let first = state.withLock { state -> Bool in
            defer { state.started = true }
            return !state.started
        }
        guard first else { return }
        let thread = Thread { [self] in
            self.run()
            self.finished.signal()
        }
        thread.name = "policy-watcher"
        thread.start()
    }

    /// Stops the thread and waits for it (a reload in progress finishes first).
    func stop() {
        let started = state.withLock { state -> Bool in
            state.stopping = true
            return state.started
        }
        wake.lock()
        wake.broadcast()
        wake.unlock()
        if started { finished.wait() }
    }

    private var isStopping: Bool { state.withLock { $0.stopping } }

    private func run() {
        var last = current()
        while !isStopping {
            wake.lock()
            if !isStopping { _ = wake.wait(until: Date(timeIntervalSinceNow: interval)) }
            wake.unlock()
            if isStopping { break }
            let now = current()
            guard now != last else { continue }
            // Remember what was seen even when the reload refuses it, so that a broken file is reported
            // once, not every second; the next edit triggers the next attempt.
            last = now
            onChange()
        }
    }

    /// The policy directory's fingerprint plus the watched files (keyed by their full path; a missing file
    /// has an empty entry, so that its return is a change too).
    private func current() -> Fingerprint {
        var fingerprint = Self.fingerprint(of: directory())
        for file in files() { fingerprint.entries["\u{0}" + file] = Self.stamp(file) ?? [] }
        return fingerprint
    }

    /// mtime (ns), size and inode of one file; nil when it cannot be stat'ed.
    static func stamp(_ path: String) -> [Int]? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return [Int(info.st_mtim.tv_sec) * 1_000_000_000 + Int(info.st_mtim.tv_nsec), Int(info.st_size), Int(info.st_ino)]
    }

    /// The policy files (`*.yaml`, `*.yml`) directly in `path`, with mtime (ns) and size. Policy tests
    /// under `tests/` are not policies and do not trigger a reload. An unreadable directory is an empty
    /// fingerprint: its disappearance is a change, and the reload then reports it and keeps the old set.
    static func fingerprint(of path: String) -> Fingerprint {
        var fingerprint = Fingerprint()
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else { return fingerprint }
        for name in names where name.hasSuffix(".yaml") || name.hasSuffix(".yml") {
            if let stamp = stamp(path + "/" + name) { fingerprint.entries[name] = stamp }
        }
        return fingerprint
    }
}
