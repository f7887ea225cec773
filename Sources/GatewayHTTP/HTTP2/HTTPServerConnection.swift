// What the runtime needs from any server connection, whatever its protocol: drain on SIGTERM and tell
// whether it is still open.

/// A server connection the runtime can drain. Loop-confined.
public protocol HTTPServerConnection: AnyObject {
    /// Finishes in-flight requests, accepts no new ones, then closes.
    func drain()
    /// True until the connection has closed.
    var isOpen: Bool { get }
}

extension HTTP1ServerConnection: HTTPServerConnection {}
