// The open server connections of one event loop, so that a SIGTERM drain can reach every one of them and
// learn when the last has closed.

/// Tracks server connections on one loop. Loop-confined.
public final class HTTPConnectionSet {
    private var connections: [ObjectIdentifier: HTTP1ServerConnection] = [:]
    private var onEmpty: (() -> Void)?

    /// Creates an empty set.
    public init() {}

    /// Open connections in the set.
    public var count: Int { connections.count }

    /// Adds a connection (before or after `start()`); it leaves the set when it closes.
    ///
    /// An `onClose` already set on the connection still runs.
    public func add(_ connection: HTTP1ServerConnection) {
        connections[ObjectIdentifier(connection)] = connection
        let previous = connection.onClose
        connection.onClose = { [weak self] closed in
            previous?(closed)
            self?.remove(closed)
        }
    }

    /// Drains every connection (idle ones close now, busy ones after their response) and calls `completion`
    /// once all have closed (at once when none are open).
    public func drainAll(completion: @escaping () -> Void) {
        onEmpty = completion
        for connection in Array(connections.values) { connection.drain() }
        if connections.isEmpty { fireEmpty() }
    }

    private func remove(_ connection: HTTP1ServerConnection) {
        connections[ObjectIdentifier(connection)] = nil
        if connections.isEmpty { fireEmpty() }
    }

    private func fireEmpty() {
        let callback = onEmpty
        onEmpty = nil
        callback?()
    }
}
