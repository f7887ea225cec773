// The YAML node tree that configuration, the client registry and policies are read from (ARCHITECTURE §2).
// Only the JSON-like subset of YAML is represented: scalars, sequences and mappings with ordered scalar
// keys. Anchors, aliases, merge keys and application tags never reach this tree (the parser refuses them),
// so a document means exactly what it shows.

/// A position in a YAML source: file name, 1-based line and 1-based column.
public struct YAMLMark: Sendable, Hashable, CustomStringConvertible {
    /// The file name as given to the parser (used only in messages).
    public var file: String
    /// 1-based line number.
    public var line: Int
    /// 1-based column number.
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// `file:line:column`.
    public var description: String { "\(file):\(line):\(column)" }
}

/// How a scalar was written. A quoted `"yes"` is a string; a plain `yes` is neither true nor a string
/// to the decoding helpers' boolean reader (YAML 1.1 booleans are not recognised).
public enum YAMLScalarStyle: String, Sendable, Hashable {
    case plain
    case singleQuoted = "single-quoted"
    case doubleQuoted = "double-quoted"
    case literal
    case folded
}

/// One key/value pair of a mapping, in document order.
public struct YAMLMappingEntry: Sendable, Hashable {
    /// The key node (always a scalar).
    public var key: YAMLNode
    public var value: YAMLNode

    public init(key: YAMLNode, value: YAMLNode) {
        self.key = key
        self.value = value
    }
}

/// A node of a parsed YAML document, with its source position and its key path from the root.
public struct YAMLNode: Sendable, Hashable {
    /// The node's content.
    public enum Value: Sendable, Hashable {
        case scalar(String, YAMLScalarStyle)
        case sequence([YAMLNode])
        /// Entries in document order; keys are unique scalars.
        case mapping([YAMLMappingEntry])
    }

    public var value: Value
    /// Where the node starts in its source.
    public var mark: YAMLMark
    /// The key path from the document root, e.g. `listeners[0].tls.certificate`; empty for the root.
    public var path: String
    /// The resolved core tag when one was written explicitly (e.g. `tag:yaml.org,2002:str` for `!!str`).
    public var tag: String?

    public init(_ value: Value, mark: YAMLMark, path: String = "", tag: String? = nil) {
        self.value = value
        self.mark = mark
        self.path = path
        self.tag = tag
    }

    /// The tag `!!str`, which makes a plain scalar a string.
    public static let stringTag = "tag:yaml.org,2002:str"
}

// MARK: - Building trees in code (for the emitter)

extension YAMLNode {
    private static let synthetic = YAMLMark(file: "<generated>", line: 0, column: 0)

    /// A string scalar; written plain when that reads back as the same string, otherwise double-quoted.
    public static func string(_ text: String) -> YAMLNode {
        let style: YAMLScalarStyle = YAMLEmitter.isSafePlain(text) ? .plain : .doubleQuoted
        return YAMLNode(.scalar(text, style), mark: synthetic)
    }

    /// An integer scalar (plain).
    public static func int(_ number: Int) -> YAMLNode {
        YAMLNode(.scalar(String(number), .plain), mark: synthetic)
    }

    /// A boolean scalar (plain `true`/`false`).
    public static func bool(_ flag: Bool) -> YAMLNode {
        YAMLNode(.scalar(flag ? "true" : "false", .plain), mark: synthetic)
    }

    /// A sequence of nodes.
    public static func sequence(_ items: [YAMLNode]) -> YAMLNode {
        YAMLNode(.sequence(items), mark: synthetic)
    }

    /// A mapping with string keys, in the given order.
    public static func mapping(_ entries: [(String, YAMLNode)]) -> YAMLNode {
        let pairs = entries.map { YAMLMappingEntry(key: .string($0.0), value: $0.1) }
        return YAMLNode(.mapping(pairs), mark: synthetic)
    }
}

// MARK: - Inspection

extension YAMLNode {
    /// The scalar text, or nil for a sequence or mapping.
    public var scalarText: String? {
        if case .scalar(let text, _) = value { return text }
        return nil
    }

    /// The scalar's style, or nil for a sequence or mapping.
    public var scalarStyle: YAMLScalarStyle? {
        if case .scalar(_, let style) = value { return style }
        return nil
    }

    /// True for a plain, untagged scalar: the only kind read as a number, a boolean or null.
    public var isPlainScalar: Bool { scalarStyle == .plain && tag == nil }

    /// True for YAML null: an empty plain scalar, `~`, `null`, `Null` or `NULL` (YAML 1.2 core schema).
    public var isNull: Bool {
        guard isPlainScalar, let text = scalarText else { return false }
        return text.isEmpty || text == "~" || text == "null" || text == "Null" || text == "NULL"
    }

    /// The mapping's entries, or nil when this is not a mapping.
    public var mappingEntries: [YAMLMappingEntry]? {
        if case .mapping(let entries) = value { return entries }
        return nil
    }

    /// The sequence's items, or nil when this is not a sequence.
    public var sequenceItems: [YAMLNode]? {
        if case .sequence(let items) = value { return items }
        return nil
    }

    /// The value for `key` in a mapping (nil when absent or when this is not a mapping).
    public subscript(key: String) -> YAMLNode? {
        mappingEntries?.first { $0.key.scalarText == key }?.value
    }

    /// The mapping's keys in document order (empty when this is not a mapping).
    public var keys: [String] {
        mappingEntries?.compactMap { $0.key.scalarText } ?? []
    }

    /// A word for the node's kind, for error messages.
    public var kindDescription: String {
        switch value {
        case .scalar(_, let style):
            if isNull { return "null" }
            return style == .plain ? "a scalar" : "a quoted string"
        case .sequence: return "a list"
        case .mapping: return "a mapping"
        }
    }
}
