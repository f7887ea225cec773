// SMART resource scopes, v1 and v2 (SPEC-DIGEST §2.1–§2.3). Parsing is strict: a string that does not match
// the grammar exactly grants nothing (attack-cases §0 rule 5, SCP-02). v1 scopes are mapped to v2
// permissions (`.read` ⇒ `rs`, `.write` ⇒ `cud`, `.*` ⇒ `cruds`, §2.2).
import FHIR

/// One parsed SMART resource scope, e.g. `patient/MedicationDispense.rs` or `system/*.read`.
public struct SMARTScope: Sendable, Hashable, CustomStringConvertible {
    /// Who the access is about (§2.4).
    public enum Level: String, Sendable, Hashable, CaseIterable {
        case patient, user, system
    }

    /// The v2 permission letters (§2.2).
    public struct Permissions: OptionSet, Sendable, Hashable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }

        public static let create = Permissions(rawValue: 1 << 0)
        public static let read = Permissions(rawValue: 1 << 1)
        public static let update = Permissions(rawValue: 1 << 2)
        public static let delete = Permissions(rawValue: 1 << 3)
        public static let search = Permissions(rawValue: 1 << 4)
        public static let all: Permissions = [.create, .read, .update, .delete, .search]

        /// The letters in `cruds` order.
        public var letters: String {
            zip("cruds", [Permissions.create, .read, .update, .delete, .search])
                .filter { contains($0.1) }.map { String($0.0) }.joined()
        }
    }

    /// Which grammar the scope was written in.
    public enum Syntax: String, Sendable, Hashable { case v1, v2 }

    public var level: Level
    /// A resource type, or `*` for all types (now and in future, §2.2).
    public var resourceType: String
    public var permissions: Permissions
    /// Granular constraints (`?category=...`), v2 only; all must hold (§2.3).
    public var constraints: [ScopeConstraint]
    public var syntax: Syntax
    /// The scope exactly as granted.
    public var text: String

    public var description: String { text }

    /// True when the scope covers `type`.
    public func covers(_ type: String) -> Bool { resourceType == "*" || resourceType == type }
}

/// A granular scope constraint: search parameter `name` must equal `value`.
public struct ScopeConstraint: Sendable, Hashable {
    public var name: String
    /// The value, percent-decoded, compared exactly with the request's decoded value.
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// Why a scope string grants nothing.
public enum ScopeParseError: Error, Sendable, Hashable {
    /// Not a resource scope at all (`openid`, `launch`, `offline_access`, `__custom`, ...).
    case notAResourceScope
    /// Looks like a resource scope but does not match the grammar.
    case malformed
}

extension SMARTScope {
    /// The URI form prefix of SMART scopes (§2.5).
    static let uriPrefix = "http://smarthealthit.org/fhir/scopes/"

    static let nonResourceScopes: Set<String> = [
        "openid", "fhirUser", "profile", "launch", "launch/patient", "launch/encounter", "offline_access",
        "online_access",
    ]

    /// Parses one scope string.
    ///
    /// - Throws: `.notAResourceScope` for launch/identity/custom scopes, `.malformed` for anything else
    ///   that is not exactly `level/type.perms[?name=value(&name=value)*]`.
    public static func parse(_ text: String) throws(ScopeParseError) -> SMARTScope {
        var body = Substring(text)
        if body.hasPrefix(uriPrefix) { body = body.dropFirst(uriPrefix.count) }
        if nonResourceScopes.contains(String(body)) || body.hasPrefix("__") { throw .notAResourceScope }
        guard let slash = body.firstIndex(of: "/"), let level = Level(rawValue: String(body[..<slash])) else {
            throw .malformed
        }
        var rest = body[body.index(after: slash)...]
        var query: Substring?
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        guard let dot = rest.lastIndex(of: ".") else { throw .malformed }
        let type = String(rest[..<dot])
        guard type == "*" || ResourceTypes.isKnown(type) else { throw .malformed }
        let (permissions, syntax) = try parsePermissions(rest[rest.index(after: dot)...])
        var constraints: [ScopeConstraint] = []
        if let query {
            guard syntax == .v2, type != "*" else { throw .malformed }  // granular scopes are v2, per type
            constraints = try parseConstraints(query, type: type)
        }
        return SMARTScope(
            level: level, resourceType: type, permissions: permissions, constraints: constraints,
            syntax: syntax, text: text)
    }

    private static func parsePermissions(_ text: Substring) throws(ScopeParseError) -> (Permissions, Syntax) {
        switch text {
        case "read": return ([.read, .search], .v1)
        case "write": return ([.create, .update, .delete], .v1)
        case "*": return (.all, .v1)
        default: break
        }
        // v2: a non-empty, in-order subset of "cruds" (§2.2: out-of-order strings are rejected here).
        var permissions: Permissions = []
        var remaining = Substring("cruds")
        let flags: [Character: Permissions] = ["c": .create, "r": .read, "u": .update, "d": .delete, "s": .search]
        for letter in text {
            guard let index = remaining.firstIndex(of: letter), let flag = flags[letter] else { throw .malformed }
            permissions.insert(flag)
            remaining = remaining[remaining.index(after: index)...]
        }
        guard !permissions.isEmpty else { throw .malformed }
        return (permissions, .v2)
    }

    private static func parseConstraints(_ query: Substring, type: String) throws(ScopeParseError) -> [ScopeConstraint]
    {
        guard !query.isEmpty else { throw .malformed }
        var constraints: [ScopeConstraint] = []
        for piece in query.split(separator: "&", omittingEmptySubsequences: false) {
            guard let equals = piece.firstIndex(of: "=") else { throw .malformed }
            let name = String(piece[..<equals])
            guard let value = percentDecoded(piece[piece.index(after: equals)...]), !value.isEmpty,
                !name.contains(":"), !name.contains("."), SearchParameterTable.info(name, of: type) != nil
            else { throw .malformed }  // modifiers and chains are experimental (§2.3): not honoured
            constraints.append(ScopeConstraint(name: name, value: value))
        }
        return constraints
    }

    private static func percentDecoded(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next(), let low = iterator.next(),
                let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
            else { return nil }
            bytes.append(value)
        }
        return String(validating: bytes, as: UTF8.self)
    }
}
