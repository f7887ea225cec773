// A small block-style YAML writer for trees of mappings, sequences and scalars (the CLI writes
// clients.yaml back with it). Scalars are written plain only when they read back as the same text;
// everything else is double-quoted with escapes (YAML 1.2 §5.7, §7.3.1), so a written file parses to the
// tree it came from.

/// Writes `YAMLNode` trees as block-style YAML text.
public enum YAMLEmitter {
    /// The YAML text for `node`, ending in a newline. `header` lines are written first as `# ` comments.
    public static func emit(_ node: YAMLNode, header: [String] = []) -> String {
        var lines = header.map { $0.isEmpty ? "#" : "# \($0)" }
        switch node.value {
        case .scalar:
            lines.append(scalar(node))
        case .sequence(let items) where items.isEmpty:
            lines.append("[]")
        case .mapping(let entries) where entries.isEmpty:
            lines.append("{}")
        case .sequence(let items):
            sequence(items, indent: 0, into: &lines)
        case .mapping(let entries):
            mapping(entries, indent: 0, into: &lines)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func mapping(_ entries: [YAMLMappingEntry], indent: Int, into lines: inout [String]) {
        let pad = String(repeating: " ", count: indent)
        for entry in entries {
            let key = "\(pad)\(scalar(entry.key)):"
            if let inline = inlineForm(entry.value) {
                lines.append("\(key) \(inline)")
            } else {
                lines.append(key)
                block(entry.value, indent: indent + 2, into: &lines)
            }
        }
    }

    private static func sequence(_ items: [YAMLNode], indent: Int, into lines: inout [String]) {
        let pad = String(repeating: " ", count: indent)
        for item in items {
            if let inline = inlineForm(item) {
                lines.append("\(pad)- \(inline)")
                continue
            }
            // Write the nested block two columns in, then put the dash into the first line's indentation.
            var nested: [String] = []
            block(item, indent: indent + 2, into: &nested)
            nested[0] = "\(pad)- " + nested[0].dropFirst(indent + 2)
            lines.append(contentsOf: nested)
        }
    }

    private static func block(_ node: YAMLNode, indent: Int, into lines: inout [String]) {
        switch node.value {
        case .mapping(let entries): mapping(entries, indent: indent, into: &lines)
        case .sequence(let items): sequence(items, indent: indent, into: &lines)
        case .scalar: lines.append(String(repeating: " ", count: indent) + scalar(node))
        }
    }

    /// A scalar or an empty collection fits on the line of its key or dash.
    private static func inlineForm(_ node: YAMLNode) -> String? {
        switch node.value {
        case .scalar: scalar(node)
        case .sequence(let items): items.isEmpty ? "[]" : nil
        case .mapping(let entries): entries.isEmpty ? "{}" : nil
        }
    }

    // MARK: Scalars

    private static func scalar(_ node: YAMLNode) -> String {
        guard case .scalar(let text, let style) = node.value else { return "" }
        if style == .plain && node.tag == nil && isPlainWritable(text) { return text }
        return doubleQuoted(text)
    }

    /// True when `text` can be written plain and reads back as a string with the same text: it is plain-
    /// writable and not null, a boolean (including YAML 1.1's yes/no/on/off) or number-like.
    public static func isSafePlain(_ text: String) -> Bool {
        guard isPlainWritable(text) else { return false }
        let lower = text.lowercased()
        let reserved: Set<String> = ["~", "null", "true", "false", "yes", "no", "on", "off", "y", "n", ".inf", ".nan"]
        if reserved.contains(lower) || lower == "-.inf" || lower == "+.inf" { return false }
        // Anything starting like a number (digits, signs, dots) is quoted: ints, floats, 0x.., dates.
        let first = text.unicodeScalars.first!
        let second = text.unicodeScalars.dropFirst().first
        if isDigit(first) { return false }
        if "+-.".unicodeScalars.contains(first), let second, isDigit(second) { return false }
        return true
    }

    /// True when `text` written plain in block context parses back to exactly `text`.
    static func isPlainWritable(_ text: String) -> Bool {
        let scalars = Array(text.unicodeScalars)
        guard let first = scalars.first, let last = scalars.last, first != " ", last != " ", last != ":" else {
            return false
        }
        let leading = isAlphanumeric(first) || "_./".unicodeScalars.contains(first)
            || (first == "-" && scalars.count > 1 && scalars[1] != " ")
        guard leading else { return false }
        let allowed = "_./-@+:=~,() ".unicodeScalars
        for (index, scalar) in scalars.enumerated() {
            guard isAlphanumeric(scalar) || allowed.contains(scalar) else { return false }
            if scalar == ":" && scalars[index + 1] == " " { return false }
        }
        return true
    }

    private static func isDigit(_ scalar: Unicode.Scalar) -> Bool { scalar.value >= 0x30 && scalar.value <= 0x39 }

    private static func isAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
        isDigit(scalar) || (scalar.value >= 0x41 && scalar.value <= 0x5A)
            || (scalar.value >= 0x61 && scalar.value <= 0x7A)
    }

    /// A double-quoted scalar; everything outside YAML's printable set is escaped (YAML 1.2 §5.1, §5.7).
    static func doubleQuoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if isPrintable(scalar) { out.unicodeScalars.append(scalar) } else { out += escape(scalar) }
            }
        }
        return out + "\""
    }

    private static func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        return (0x20...0x7E).contains(value) || (0xA0...0xD7FF).contains(value)
            || (0xE000...0xFFFD).contains(value) || (0x10000...0x10FFFF).contains(value)
    }

    private static func escape(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        let (prefix, width) = scalar.value <= 0xFF ? ("\\x", 2) : scalar.value <= 0xFFFF ? ("\\u", 4) : ("\\U", 8)
        return prefix + String(repeating: "0", count: width - hex.count) + hex
    }
}
