// Decoding helpers: typed reads of YAML nodes with path-and-line errors. Values are read strictly:
// booleans are only `true`/`false`, numbers only plain digits, so `"yes"`, `yes`, `on` and `0x10` are
// refused instead of being guessed at (the YAML 1.1 "Norway problem").

// MARK: - Reading this node

extension YAMLNode {
    /// The node as a string: any non-null scalar (plain or quoted).
    public func string() throws(YAMLDecodingError) -> String {
        guard let text = scalarText, !isNull else { throw mismatch("a string") }
        return text
    }

    /// The node as an integer: a plain scalar of decimal digits with an optional leading `-`.
    public func int() throws(YAMLDecodingError) -> Int {
        guard isPlainScalar, let text = scalarText, Self.isDecimal(text), let number = Int(text) else {
            throw mismatch("an integer")
        }
        return number
    }

    /// The node as a boolean: plain `true` or `false` only.
    public func bool() throws(YAMLDecodingError) -> Bool {
        if isPlainScalar, scalarText == "true" { return true }
        if isPlainScalar, scalarText == "false" { return false }
        throw mismatch("true or false")
    }

    /// The node as a duration in seconds: `500ms`, `10s`, `2m`, `1h`, `1d` (a bare number is refused:
    /// the unit must be written).
    public func duration() throws(YAMLDecodingError) -> Double {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        guard let text = scalarText, !isNull, let value = Self.scaled(text, units: units) else {
            throw mismatch("a duration such as 500ms, 10s, 2m or 1h")
        }
        return value
    }

    /// The node as a byte count: a plain integer, or a number with `B`, `KiB`, `MiB`, `GiB`
    /// (powers of 1024) or `KB`, `MB`, `GB` (powers of 1000).
    public func byteSize() throws(YAMLDecodingError) -> Int {
        let units: [(String, Double)] = [
            ("KiB", 1024), ("MiB", 1_048_576), ("GiB", 1_073_741_824), ("KB", 1000), ("MB", 1e6), ("GB", 1e9), ("B", 1),
        ]
        if isPlainScalar, let text = scalarText, Self.isDecimal(text), let bytes = Int(text), bytes >= 0 {
            return bytes
        }
        guard let text = scalarText, !isNull, let value = Self.scaled(text, units: units),
              value == value.rounded(), value < 9e18
        else { throw mismatch("a size such as 8MiB, 512KiB or 1048576") }
        return Int(value)
    }

    /// The node as a list of strings. A single scalar is refused: write `[a]` or a `- a` list.
    public func stringList() throws(YAMLDecodingError) -> [String] {
        guard let items = sequenceItems else { throw mismatch("a list of strings") }
        var result: [String] = []
        result.reserveCapacity(items.count)
        for item in items { result.append(try item.string()) }
        return result
    }

    /// The node as a mapping's entries.
    public func mapping() throws(YAMLDecodingError) -> [YAMLMappingEntry] {
        guard let entries = mappingEntries else { throw mismatch("a mapping") }
        return entries
    }

    /// The node as a sequence's items.
    public func sequence() throws(YAMLDecodingError) -> [YAMLNode] {
        guard let items = sequenceItems else { throw mismatch("a list") }
        return items
    }

    /// An error "expected X, found Y" located at this node.
    public func mismatch(_ expected: String) -> YAMLDecodingError {
        YAMLDecodingError(at: self, "expected \(expected), found \(kindDescription)")
    }

    // MARK: Unknown keys

    /// Errors for keys of this mapping that are not in `allowed` (one per unknown key, at the key's line).
    /// A node that is not a mapping yields one "expected a mapping" error.
    public func unknownKeys(allowed: [String]) -> [YAMLDecodingError] {
        guard let entries = mappingEntries else { return [mismatch("a mapping")] }
        return entries.compactMap { entry in
            let key = entry.key.scalarText ?? ""
            if allowed.contains(key) { return nil }
            let known = allowed.joined(separator: ", ")
            return YAMLDecodingError(at: entry.value, "unknown key '\(key)' (expected one of: \(known))")
                .located(at: entry.key)
        }
    }

    /// Throws the first unknown key of this mapping (see `unknownKeys(allowed:)` to get all of them).
    public func expectKeys(_ allowed: [String]) throws(YAMLDecodingError) {
        if let first = unknownKeys(allowed: allowed).first { throw first }
    }

    // MARK: Parsing helpers

    private static func isDecimal(_ text: String) -> Bool {
        let digits = text.hasPrefix("-") ? text.dropFirst() : Substring(text)
        return !digits.isEmpty && digits.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }

    /// `<number><unit>` with the number a non-negative decimal (digits, optional fraction).
    private static func scaled(_ text: String, units: [(String, Double)]) -> Double? {
        for (unit, factor) in units where text.hasSuffix(unit) {
            let number = text.dropLast(unit.count)
            guard !number.isEmpty, number.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E }),
                  number.first != ".", number.last != ".", let value = Double(number)
            else { return nil }
            return value * factor
        }
        return nil
    }
}

extension YAMLDecodingError {
    /// The same error at another node's position, keeping the path.
    fileprivate func located(at node: YAMLNode) -> YAMLDecodingError {
        YAMLDecodingError(mark: node.mark, path: path, problem: problem)
    }
}

// MARK: - Reading a child of a mapping

extension YAMLNode {
    /// The value at `key`; throws "missing key" (at this mapping) when absent or null.
    public func required(_ key: String) throws(YAMLDecodingError) -> YAMLNode {
        guard mappingEntries != nil else { throw mismatch("a mapping") }
        guard let child = self[key], !child.isNull else {
            let path = self.path.isEmpty ? key : "\(self.path).\(key)"
            throw YAMLDecodingError(mark: mark, path: path, problem: "missing required key '\(key)'")
        }
        return child
    }

    /// The value at `key`, or nil when absent or null.
    public func optional(_ key: String) throws(YAMLDecodingError) -> YAMLNode? {
        guard mappingEntries != nil else { throw mismatch("a mapping") }
        guard let child = self[key], !child.isNull else { return nil }
        return child
    }

    /// The required string at `key`.
    public func string(at key: String) throws(YAMLDecodingError) -> String { try required(key).string() }
    /// The required integer at `key`.
    public func int(at key: String) throws(YAMLDecodingError) -> Int { try required(key).int() }
    /// The required boolean at `key`.
    public func bool(at key: String) throws(YAMLDecodingError) -> Bool { try required(key).bool() }
    /// The required duration (seconds) at `key`.
    public func duration(at key: String) throws(YAMLDecodingError) -> Double { try required(key).duration() }
    /// The required byte size at `key`.
    public func byteSize(at key: String) throws(YAMLDecodingError) -> Int { try required(key).byteSize() }
    /// The required list of strings at `key`.
    public func stringList(at key: String) throws(YAMLDecodingError) -> [String] {
        try required(key).stringList()
    }

    /// The string at `key`, or nil when absent.
    public func optionalString(at key: String) throws(YAMLDecodingError) -> String? {
        try optional(key)?.string()
    }

    /// The integer at `key`, or nil when absent.
    public func optionalInt(at key: String) throws(YAMLDecodingError) -> Int? { try optional(key)?.int() }

    /// The boolean at `key`, or nil when absent.
    public func optionalBool(at key: String) throws(YAMLDecodingError) -> Bool? { try optional(key)?.bool() }

    /// The duration (seconds) at `key`, or nil when absent.
    public func optionalDuration(at key: String) throws(YAMLDecodingError) -> Double? {
        try optional(key)?.duration()
    }

    /// The byte size at `key`, or nil when absent.
    public func optionalByteSize(at key: String) throws(YAMLDecodingError) -> Int? {
        try optional(key)?.byteSize()
    }

    /// The list of strings at `key`, or nil when absent.
    public func optionalStringList(at key: String) throws(YAMLDecodingError) -> [String]? {
        try optional(key)?.stringList()
    }
}
