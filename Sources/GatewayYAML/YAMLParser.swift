// libyaml events to a YAMLNode tree. This file is the only one that touches libyaml (C-INTEROP.md).
// What is refused, and why:
// - anchors and aliases: an alias can expand a small file into gigabytes ("billion laughs"), and a
//   configuration should mean what it shows;
// - tags other than the YAML 1.2 core ones (`!!str`, `!!int`, ...): application tags construct nothing here;
// - duplicate mapping keys: YAML 1.2 §3.2.1.1 requires unique keys, and "last one wins" lets a reviewer
//   read one value while the gateway uses another;
// - complex (non-scalar) keys and the merge key `<<`;
// - more than one document per file;
// - inputs beyond the size, depth and node-count limits.
import Foundation
import CYAML
import GatewayCore

/// Bounds on what the parser accepts.
public struct YAMLLimits: Sendable, Hashable {
    /// Largest input in bytes.
    public var maxBytes: Int
    /// Deepest nesting of sequences and mappings.
    public var maxDepth: Int
    /// Most nodes (scalars, sequences, mappings, keys included) in one document.
    public var maxNodes: Int

    public init(maxBytes: Int = 8 << 20, maxDepth: Int = 64, maxNodes: Int = 500_000) {
        self.maxBytes = maxBytes
        self.maxDepth = maxDepth
        self.maxNodes = maxNodes
    }

    /// 8 MiB, depth 64, 500,000 nodes.
    public static let `default` = YAMLLimits()
}

/// Parses YAML text into a node tree.
public enum YAMLParser {
    /// Parses one YAML document from `text`. An empty stream yields a null scalar at 1:1.
    /// - Parameter file: the name used in marks and error messages.
    public static func parse(
        _ text: String, file: String = "<input>", limits: YAMLLimits = .default
    ) throws(YAMLDecodingError) -> YAMLNode {
        try parse(bytes: Array(text.utf8), file: file, limits: limits)
    }

    /// Parses one YAML document from UTF-8 bytes.
    public static func parse(
        bytes: [UInt8], file: String = "<input>", limits: YAMLLimits = .default
    ) throws(YAMLDecodingError) -> YAMLNode {
        let start = YAMLMark(file: file, line: 1, column: 1)
        guard bytes.count <= limits.maxBytes else {
            throw YAMLDecodingError(mark: start, path: "", problem: "file is larger than \(limits.maxBytes) bytes")
        }
        var builder = TreeBuilder(file: file, limits: limits)
        try builder.run(bytes)
        return builder.root ?? YAMLNode(.scalar("", .plain), mark: start)
    }

    /// Reads and parses the file at `path` (the path is also the name in messages).
    public static func parse(
        contentsOfFile path: String, limits: YAMLLimits = .default
    ) throws(YAMLDecodingError) -> YAMLNode {
        let start = YAMLMark(file: path, line: 1, column: 1)
        let bytes: [UInt8]
        do {
            bytes = try FileAccess.contents(path)
        } catch {
            throw YAMLDecodingError(mark: start, path: "", problem: "cannot read file: \(error.reason)")
        }
        return try parse(bytes: bytes, file: path, limits: limits)
    }
}

/// Turns libyaml events into nodes, with a stack of open collections.
private struct TreeBuilder {
    private enum Frame {
        case sequence(start: YAMLMark, path: String, tag: String?, items: [YAMLNode])
        case mapping(start: YAMLMark, path: String, tag: String?, entries: [YAMLMappingEntry],
                     pendingKey: YAMLNode?, seen: [String: YAMLMark])
    }

    let file: String
    let limits: YAMLLimits
    private(set) var root: YAMLNode?
    private var stack: [Frame] = []
    private var nodeCount = 0
    private var documents = 0

    init(file: String, limits: YAMLLimits) {
        self.file = file
        self.limits = limits
    }

    /// Drives the libyaml parser over `bytes`; the buffer stays pinned for the whole parse because libyaml
    /// keeps a pointer into it.
    mutating func run(_ bytes: [UInt8]) throws(YAMLDecodingError) {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            throw error(at: YAMLMark(file: file, line: 1, column: 1), "YAML parser could not be initialised")
        }
        defer { yaml_parser_delete(&parser) }
        yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)

        let result: Result<Void, YAMLDecodingError> = bytes.withUnsafeBufferPointer { buffer in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            return Result { () throws(YAMLDecodingError) in try self.consume(&parser) }
        }
        try result.get()
    }

    private mutating func consume(_ parser: inout yaml_parser_t) throws(YAMLDecodingError) {
        var event = yaml_event_t()
        while true {
            guard yaml_parser_parse(&parser, &event) == 1 else { throw syntaxError(parser) }
            defer { yaml_event_delete(&event) }
            if event.type == YAML_STREAM_END_EVENT { return }
            try handle(event)
        }
    }

    private func syntaxError(_ parser: yaml_parser_t) -> YAMLDecodingError {
        let problem = parser.problem.map { String(cString: $0) } ?? "invalid YAML"
        var text = problem
        if let context = parser.context.map({ String(cString: $0) }) { text = "\(context): \(problem)" }
        return error(at: mark(parser.problem_mark), text)
    }

    // MARK: Events

    private mutating func handle(_ event: yaml_event_t) throws(YAMLDecodingError) {
        let at = mark(event.start_mark)
        switch event.type {
        case YAML_DOCUMENT_START_EVENT:
            documents += 1
            if documents > 1 { throw error(at: at, "only one YAML document per file is allowed") }
        case YAML_ALIAS_EVENT:
            throw error(at: at, "aliases (*name) are not allowed")
        case YAML_SCALAR_EVENT:
            let data = event.data.scalar
            try refuseAnchor(data.anchor, at: at)
            let tag = try checkedTag(data.tag, at: at)
            let text = string(data.value, count: data.length)
            try attach(YAMLNode(.scalar(text, style(data.style)), mark: at, path: childPath(), tag: tag))
        case YAML_SEQUENCE_START_EVENT:
            let data = event.data.sequence_start
            try refuseAnchor(data.anchor, at: at)
            let tag = try checkedTag(data.tag, at: at)
            try open(.sequence(start: at, path: childPath(), tag: tag, items: []), at: at)
        case YAML_MAPPING_START_EVENT:
            let data = event.data.mapping_start
            try refuseAnchor(data.anchor, at: at)
            let tag = try checkedTag(data.tag, at: at)
            let frame = Frame.mapping(start: at, path: childPath(), tag: tag, entries: [], pendingKey: nil, seen: [:])
            try open(frame, at: at)
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            try close()
        default:
            break  // stream start, document end: nothing to build
        }
    }

    private mutating func open(_ frame: Frame, at: YAMLMark) throws(YAMLDecodingError) {
        if case .mapping(_, _, _, _, nil, _)? = stack.last {
            throw error(at: at, "mapping keys must be scalars")
        }
        guard stack.count < limits.maxDepth else {
            throw error(at: at, "nesting deeper than \(limits.maxDepth) levels")
        }
        try count(at: at)
        stack.append(frame)
    }

    private mutating func close() throws(YAMLDecodingError) {
        guard let frame = stack.popLast() else { return }
        switch frame {
        case .sequence(let start, let path, let tag, let items):
            try attach(YAMLNode(.sequence(items), mark: start, path: path, tag: tag), counted: true)
        case .mapping(let start, let path, let tag, let entries, _, _):
            try attach(YAMLNode(.mapping(entries), mark: start, path: path, tag: tag), counted: true)
        }
    }

    /// Adds a finished node to the open collection (or makes it the root).
    private mutating func attach(_ node: YAMLNode, counted: Bool = false) throws(YAMLDecodingError) {
        if !counted { try count(at: node.mark) }
        guard let top = stack.popLast() else {
            root = node
            return
        }
        switch top {
        case .sequence(let start, let path, let tag, var items):
            items.append(node)
            stack.append(.sequence(start: start, path: path, tag: tag, items: items))
        case .mapping(let start, let path, let tag, var entries, let pendingKey, var seen):
            if let key = pendingKey {
                entries.append(YAMLMappingEntry(key: key, value: node))
                stack.append(
                    .mapping(start: start, path: path, tag: tag, entries: entries, pendingKey: nil, seen: seen))
            } else {
                let text = node.scalarText ?? ""
                try checkKey(node, text: text, seen: seen)
                seen[text] = node.mark
                stack.append(
                    .mapping(start: start, path: path, tag: tag, entries: entries, pendingKey: node, seen: seen))
            }
        }
    }

    private func checkKey(_ key: YAMLNode, text: String, seen: [String: YAMLMark]) throws(YAMLDecodingError) {
        if let first = seen[text] {
            throw YAMLDecodingError(at: key, "duplicate key '\(text)' (first at line \(first.line))")
        }
        if text == "<<" && key.isPlainScalar {
            throw YAMLDecodingError(at: key, "merge keys (<<) are not allowed")
        }
    }

    private mutating func count(at: YAMLMark) throws(YAMLDecodingError) {
        nodeCount += 1
        if nodeCount > limits.maxNodes { throw error(at: at, "more than \(limits.maxNodes) nodes") }
    }

    /// The key path for the node that starts next.
    private func childPath() -> String {
        switch stack.last {
        case nil:
            return ""
        case .sequence(_, let path, _, let items):
            return "\(path)[\(items.count)]"
        case .mapping(_, let path, _, _, let pendingKey, _):
            guard let key = pendingKey?.scalarText else { return path }  // the key itself
            return path.isEmpty ? key : "\(path).\(key)"
        }
    }

    // MARK: C helpers

    private func refuseAnchor(_ anchor: UnsafeMutablePointer<yaml_char_t>?, at: YAMLMark) throws(YAMLDecodingError) {
        if anchor != nil { throw error(at: at, "anchors (&name) are not allowed") }
    }

    /// Core tags only (YAML 1.2 §10.3); everything else is refused.
    private func checkedTag(
        _ raw: UnsafeMutablePointer<yaml_char_t>?, at: YAMLMark
    ) throws(YAMLDecodingError) -> String? {
        guard let raw else { return nil }
        let tag = String(cString: raw)
        let core = ["str", "int", "bool", "null", "float", "seq", "map"].map { "tag:yaml.org,2002:\($0)" }
        guard core.contains(tag) else { throw error(at: at, "tag '\(tag)' is not allowed") }
        return tag
    }

    private func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?, count: Int) -> String {
        guard let pointer else { return "" }
        return String(decoding: UnsafeBufferPointer(start: pointer, count: count), as: UTF8.self)
    }

    private func style(_ style: yaml_scalar_style_t) -> YAMLScalarStyle {
        switch style {
        case YAML_SINGLE_QUOTED_SCALAR_STYLE: .singleQuoted
        case YAML_DOUBLE_QUOTED_SCALAR_STYLE: .doubleQuoted
        case YAML_LITERAL_SCALAR_STYLE: .literal
        case YAML_FOLDED_SCALAR_STYLE: .folded
        default: .plain
        }
    }

    private func mark(_ mark: yaml_mark_t) -> YAMLMark {
        YAMLMark(file: file, line: Int(mark.line) + 1, column: Int(mark.column) + 1)
    }

    private func error(at mark: YAMLMark, _ problem: String) -> YAMLDecodingError {
        YAMLDecodingError(mark: mark, path: "", problem: problem)
    }
}
