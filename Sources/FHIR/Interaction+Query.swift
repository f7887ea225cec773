// Rebuilding the upstream query from what was parsed (ARCHITECTURE §1 step 4: never copy raw bytes).

extension SearchParameter {
    /// The parameter name as written on the wire: `name[:modifier][.chain]`.
    public var key: String {
        var key = name
        if let modifier { key += ":" + modifier }
        if let chain { key += "." + chain }
        return key
    }

    /// The value as written on the wire (comma-joined; escaped commas were kept in the values).
    public var joinedValue: String { values.joined(separator: ",") }
}

extension Interaction {
    /// The parameters as decoded `(key, value)` pairs, in request order, for the upstream request builder to
    /// percent-encode. For POST `_search` these include the form body's parameters.
    public var queryItems: [(String, String)] {
        parameters.map { ($0.key, $0.joinedValue) }
    }
}
