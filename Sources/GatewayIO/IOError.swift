// Transport failures from libuv (and the socket calls made around it), named the way libuv names them.

import CLibUV

/// A libuv failure: the negative status code and libuv's name for it (`ECONNREFUSED`, ...).
public struct IOError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The libuv status (a negated errno on Linux).
    public let code: Int32
    /// What was being attempted, e.g. `connect` or `bind`.
    public let operation: String

    /// libuv's symbolic name of `code`.
    public var name: String { String(cString: uv_err_name(code)) }

    /// `operation: NAME (message)`.
    public var description: String { "\(operation): \(name) (\(String(cString: uv_strerror(code))))" }

    init(_ code: Int32, _ operation: String) {
        self.code = code
        self.operation = operation
    }

    /// The operation did not finish in time (connect or TLS handshake timeout).
    public static func timedOut(_ operation: String) -> IOError { IOError(UV_ETIMEDOUT.rawValue, operation) }
}
