// The policy file watch (issue #6 item 5): which changes count, that one change triggers one reload, and
// that stopping does not wait for the next poll.

import Foundation
import Testing

@testable import Gateway

@Suite("Policy file watch")
struct PolicyWatcherTests {
    func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "watch-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path + "/tests", withIntermediateDirectories: true)
        return path
    }

    @Test("policy files added, edited or removed change the fingerprint; tests/ and other files do not")
    func fingerprint() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let empty = PolicyWatcher.fingerprint(of: directory)
        try "rules: []\n".write(toFile: directory + "/a.yaml", atomically: true, encoding: .utf8)
        let one = PolicyWatcher.fingerprint(of: directory)
        #expect(one != empty)
        try "cases: []\n".write(toFile: directory + "/tests/a.yaml", atomically: true, encoding: .utf8)
        try "notes".write(toFile: directory + "/README.md", atomically: true, encoding: .utf8)
        try "x".write(toFile: directory + "/a.yaml.tmp", atomically: true, encoding: .utf8)
        #expect(PolicyWatcher.fingerprint(of: directory) == one)
        // Same size, new content written atomically (a new inode and mtime).
        try "rules: [1]\n".write(toFile: directory + "/a.yaml", atomically: true, encoding: .utf8)
        let edited = PolicyWatcher.fingerprint(of: directory)
        #expect(edited != one)
        try FileManager.default.removeItem(atPath: directory + "/a.yaml")
        #expect(PolicyWatcher.fingerprint(of: directory) == empty)
        #expect(PolicyWatcher.fingerprint(of: directory + "/missing") == empty)
    }

    @Test("one edit triggers one reload; no edit triggers none; stop returns without waiting a full interval")
    func reloadsOncePerChange() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "rules: []\n".write(toFile: directory + "/a.yaml", atomically: true, encoding: .utf8)
        let calls = LockedCounter()
        let watcher = PolicyWatcher(interval: 0.05, directory: { directory }) { calls.increment() }
        watcher.start()
        usleep(300_000)
        #expect(calls.value == 0)
        try "rules: [changed]\n".write(toFile: directory + "/a.yaml", atomically: true, encoding: .utf8)
        var waited = 0
        while calls.value == 0, waited < 100 {
            usleep(20_000)
            waited += 1
        }
        usleep(300_000)
        #expect(calls.value == 1)
        let slow = PolicyWatcher(interval: 60, directory: { directory }) {}
        slow.start()
        let started = Date()
        slow.stop()
        watcher.stop()
        #expect(Date().timeIntervalSince(started) < 5)
    }
}
