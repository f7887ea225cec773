// Scope mediation at the token endpoint (SPEC-DIGEST §1.6 step 10, §2.1-2.2): the AS "SHALL mediate the
// request to assure that the scope requested is within the scope pre-authorized to the client".
//
// Decisions (pinned by TOK-05):
// - Granted = the requested scopes that lie within a registered scope; the rest are dropped silently and
//   the response's `scope` says what was granted. Nothing grantable → `invalid_scope`.
// - A requested scope lies within a registered one when both are SMART resource scopes with the same level,
//   the registered type is the requested type or `*`, the requested permissions are a subset, and any
//   `?query` constraint is identical (a registered constraint is never dropped). Other strings (custom
//   `__` scopes, `launch/patient`, `openid`) are granted only on an exact registered match.
// - v1 and v2 are compared through the v2 letters (`read` = `rs`, `write` = `cud`, `*` = `cruds`); each
//   granted scope is returned exactly as requested, so a v1 request gets v1 scopes back (SMART 2.2 §2.2).
// - Unparseable strings (`.sr`, `.READ`, `Patient/...`) grant nothing (rule 0.5).

/// Mediates requested scopes against a client's registered scopes.
public enum ScopeGrant {
    /// The parts of a SMART resource scope, enough to compare containment.
    struct ResourceScope: Equatable {
        let level: Substring
        let type: Substring
        let letters: Set<Character>
        let query: Substring?
    }

    /// The requested scopes that are within `registered`, in request order, without duplicates.
    public static func grant(requested: [String], registered: [String]) -> [String] {
        let parsedRegistered = registered.map { ($0, parse($0)) }
        var granted: [String] = []
        for scope in requested where !granted.contains(scope) {
            let allowed = parsedRegistered.contains { text, parsed in
                if text == scope { return parse(scope) != nil || !looksLikeResourceScope(scope) }
                guard let want = parse(scope), let have = parsed else { return false }
                return within(want, have)
            }
            if allowed { granted.append(scope) }
        }
        return granted
    }

    /// Splits a form `scope` value on single spaces (RFC 6749 §3.3); nil when it has empty items or other
    /// whitespace or control characters.
    public static func split(_ value: String) -> [String]? {
        let items = value.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        guard !items.isEmpty, !items.contains(where: \.isEmpty) else { return nil }
        // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
        let valid = items.allSatisfy { item in
            item.utf8.allSatisfy { $0 == 0x21 || (0x23...0x5B).contains($0) || (0x5D...0x7E).contains($0) }
        }
        return valid ? items : nil
    }

    static func within(_ want: ResourceScope, _ have: ResourceScope) -> Bool {
        want.level == have.level && (have.type == "*" || have.type == want.type)
            && want.letters.isSubset(of: have.letters) && want.query == have.query
    }

    static func looksLikeResourceScope(_ scope: String) -> Bool {
        ["patient/", "user/", "system/"].contains { scope.hasPrefix($0) }
    }

    /// Parses `level/Type.perms[?query]` (v2 letters in `cruds` order, or v1 `read`/`write`/`*`).
    static func parse(_ scope: String) -> ResourceScope? {
        let (body, query) = splitQuery(scope)
        guard let slash = body.firstIndex(of: "/"), let dot = body.lastIndex(of: ".") , slash < dot else { return nil }
        let level = body[..<slash], type = body[body.index(after: slash)..<dot], perms = body[body.index(after: dot)...]
        guard ["patient", "user", "system"].contains(level), isResourceType(type) else { return nil }
        guard let letters = letters(perms, allowV1: query == nil) else { return nil }
        if let query, query.isEmpty { return nil }
        return ResourceScope(level: level, type: type, letters: letters, query: query)
    }

    private static func splitQuery(_ scope: String) -> (Substring, Substring?) {
        guard let mark = scope.firstIndex(of: "?") else { return (Substring(scope), nil) }
        return (scope[..<mark], scope[scope.index(after: mark)...])
    }

    /// `*` or a FHIR resource type name (`[A-Z][A-Za-z]*`).
    private static func isResourceType(_ type: Substring) -> Bool {
        if type == "*" { return true }
        guard let first = type.unicodeScalars.first, ("A"..."Z").contains(first) else { return false }
        return type.unicodeScalars.allSatisfy { ("A"..."Z").contains($0) || ("a"..."z").contains($0) }
    }

    private static func letters(_ perms: Substring, allowV1: Bool) -> Set<Character>? {
        if allowV1 {
            switch perms {
            case "read": return ["r", "s"]
            case "write": return ["c", "u", "d"]
            case "*": return ["c", "r", "u", "d", "s"]
            default: break
            }
        }
        // v2: a non-empty, in-order subset of "cruds" (SMART 2.2 §2.2).
        var remaining = Substring("cruds")
        for letter in perms {
            guard let index = remaining.firstIndex(of: letter) else { return nil }
            remaining = remaining[remaining.index(after: index)...]
        }
        return perms.isEmpty ? nil : Set(perms)
    }
}
