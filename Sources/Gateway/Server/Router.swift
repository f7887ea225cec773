// Maps a request target to a route (ARCHITECTURE §4 front endpoints). One canonical path form is
// accepted and everything else is 400 (attack-case rule 8); routes match whole segments.

public import GatewayCore

/// Where a request goes.
public enum Route: Equatable, Sendable {
    /// `/.well-known/smart-configuration` at the root or under the FHIR base (never proxied).
    case smartConfiguration
    case token
    case jwks
    case introspect
    /// `{base}/metadata`: the upstream CapabilityStatement with the SMART security section added.
    case capabilities
    /// Anything else under the FHIR base; `segments` are the path segments after the base.
    case fhir(segments: [String])
    case notFound
}

public struct Router: Sendable {
    /// The FHIR base path's segments, e.g. `["fhir"]`.
    let baseSegments: [String]

    public init(fhirBasePath: String) {
        baseSegments = fhirBasePath.split(separator: "/").map(String.init)
    }

    /// Splits and checks the path of a request target. FHIR paths are made of resource types, ids
    /// (`[A-Za-z0-9\-\.]{1,64}`), `_history`, `_search` and `$operation` names, so nothing in a valid path
    /// needs percent-encoding: `%` is refused outright, which closes encoded slashes, dots and backslashes
    /// at any encoding depth (PATH-01). Empty segments (`//`, trailing `/`), dot segments, `;` parameters
    /// and backslashes are refused too (PATH-03).
    public static func canonicalSegments(_ path: Substring) throws(GatewayError) -> [String] {
        guard path.first == "/" else { throw .badRequest("The request path must start with '/'.") }
        if path == "/" { return [] }
        var segments: [String] = []
        for segment in path.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            guard !segment.isEmpty else { throw .badRequest("The request path has an empty segment.") }
            guard segment != ".", segment != ".." else { throw .badRequest("The request path has a dot segment.") }
            for b in segment.utf8 where !isPathByte(b) {
                throw .badRequest("The request path is not in canonical form.")
            }
            segments.append(String(segment))
        }
        return segments
    }

    /// Letters, digits, `-`, `.`, `_`, `$` and `:`: the bytes canonical gateway paths use.
    static func isPathByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x2E
            || b == 0x5F || b == 0x24 || b == 0x3A
    }

    /// Chooses the route for a canonical path. A base written in another case (`/FHIR`) is 400, not 404,
    /// so that no casing of a protected path is ever routed elsewhere.
    public func route(_ segments: [String]) throws(GatewayError) -> Route {
        switch segments {
        case [".well-known", "smart-configuration"]: return .smartConfiguration
        case ["auth", "token"]: return .token
        case ["auth", "jwks"]: return .jwks
        case ["auth", "introspect"]: return .introspect
        default: break
        }
        guard segments.count >= baseSegments.count else { return .notFound }
        let head = Array(segments.prefix(baseSegments.count))
        guard head == baseSegments else {
            if head.map({ $0.lowercased() }) == baseSegments.map({ $0.lowercased() }) {
                throw .badRequest("The FHIR base path is case-sensitive.")
            }
            return .notFound
        }
        let rest = Array(segments.dropFirst(baseSegments.count))
        switch rest {
        case [".well-known", "smart-configuration"]: return .smartConfiguration
        case ["metadata"]: return .capabilities
        default: return .fhir(segments: rest)
        }
    }
}
