// Scope mediation at the token endpoint (SPEC-DIGEST §1.6 step 10, §2.1-2.2): the AS "SHALL mediate the
// request to assure that the scope requested is within the scope pre-authorized to the client".
//
// Decisions (pinned by TOK-05):
// - Granted = the requested scopes that lie within a registered scope; the rest are dropped silently and
//   the response's `scope` says what was granted. Nothing grantable → `invalid_scope`.
// - A requested resource scope broader than the registration (`system/*.rs` when `system/Patient.rs` is
//   registered) is narrowed to what it shares with each registered scope (SMART 2.2 §2.2: the AS may grant
//   less than requested): the registered type, the common permissions, the registered constraints. So a
//   client that asks for "everything I may read" gets its registration, never more.
// - A requested scope lies within a registered one when both are SMART resource scopes with the same level,
//   the registered type is the requested type or `*`, the requested permissions are a subset, and any
//   `?query` constraint is identical (a registered constraint is never dropped). Other strings (custom
//   `__` scopes, `launch/patient`, `openid`) are granted only on an exact registered match.
// - v1 and v2 are compared through the v2 letters (`read` = `rs`, `write` = `cud`, `*` = `cruds`); each
//   granted scope is returned exactly as requested, so a v1 request gets v1 scopes back (SMART 2.2 §2.2).
// - Unparseable strings (`.sr`, `.READ`, `Patient/...`) grant nothing (rule 0.5).

/// Mediates requested scopes against a client's registered scopes, using the one scope grammar
/// (`SMARTScope.parse`).
public enum ScopeMediation {
    /// The requested scopes that are within `registered`, in request order, without duplicates.
    public static func grant(requested: [String], registered: [String]) -> [String] {
        let parsedRegistered = registered.map { text in (text, try? SMARTScope.parse(text)) }
        var granted: [String] = []
        for scope in requested where !granted.contains(scope) {
            let parsed: SMARTScope?
            do throws(ScopeParseError) {
                parsed = try SMARTScope.parse(scope)
            } catch .notAResourceScope {
                // Custom and launch scopes: exact registered string only.
                if registered.contains(scope) { granted.append(scope) }
                continue
            } catch {
                continue  // malformed grants nothing (rule 0.5)
            }
            guard let want = parsed else { continue }
            if parsedRegistered.contains(where: { $0.1.map { within(want, $0) } ?? false }) {
                granted.append(scope)
                continue
            }
            for case (_, let have?) in parsedRegistered {
                if let narrowed = narrowed(want, to: have), !granted.contains(narrowed) { granted.append(narrowed) }
            }
        }
        return granted
    }

    /// What a broader request shares with one registered scope, in the request's syntax where it can say
    /// it; nil when they share nothing. A registered constraint is kept (the registered text is used); a
    /// requested constraint must equal the registered one.
    static func narrowed(_ want: SMARTScope, to have: SMARTScope) -> String? {
        guard want.level == have.level, want.covers(have.resourceType),
            want.constraints.isEmpty || want.constraints == have.constraints
        else { return nil }
        let common = want.permissions.intersection(have.permissions)
        if common.isEmpty { return nil }
        if common == have.permissions { return have.text }
        guard have.constraints.isEmpty else { return nil }  // no partial rewrite of a constrained scope
        let prefix = "\(have.level.rawValue)/\(have.resourceType)."
        if want.syntax == .v1 {
            if common == [.read, .search] { return prefix + "read" }
            if common == [.create, .update, .delete] { return prefix + "write" }
        }
        return prefix + common.letters
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

    /// Same level, the registered type is the requested one or `*`, permissions a subset, constraints equal.
    static func within(_ want: SMARTScope, _ have: SMARTScope) -> Bool {
        want.level == have.level && have.covers(want.resourceType)
            && want.permissions.isSubset(of: have.permissions) && want.constraints == have.constraints
    }
}
