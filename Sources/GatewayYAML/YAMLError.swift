// Errors with a file, a line, a column and a key path, so that an operator can fix a configuration
// without guessing (ARCHITECTURE §4: `pdmp-gateway check` reports file:line errors).

/// A syntax or decoding problem at one place in a YAML file.
/// Prints as `file:line:column: key.path: problem` (the path is left out when empty).
public struct YAMLDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    public var mark: YAMLMark
    /// The key path of the offending node, e.g. `clients[2].jwks`; empty for document-level problems.
    public var path: String
    /// What is wrong, in words.
    public var problem: String

    public init(mark: YAMLMark, path: String, problem: String) {
        self.mark = mark
        self.path = path
        self.problem = problem
    }

    /// An error located at `node`.
    public init(at node: YAMLNode, _ problem: String) {
        self.init(mark: node.mark, path: node.path, problem: problem)
    }

    /// `file:line:column: path: problem`; a mark with line 0 (a whole file or directory) prints as `file:`.
    public var description: String {
        let place = mark.line == 0 ? mark.file : mark.description
        return path.isEmpty ? "\(place): \(problem)" : "\(place): \(path): \(problem)"
    }
}

/// Several decoding errors, reported together (a checker lists every problem, not only the first).
public struct YAMLDecodingErrors: Error, Sendable, Hashable, CustomStringConvertible {
    public var errors: [YAMLDecodingError]

    public init(_ errors: [YAMLDecodingError]) {
        self.errors = errors
    }

    /// One error a line, in the order found.
    public var description: String { errors.map(\.description).joined(separator: "\n") }
}
