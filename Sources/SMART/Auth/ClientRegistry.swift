// The registered requesters and their keys (SPEC-DIGEST §1.2): an immutable snapshot. A reload builds a new
// registry and swaps it in (`AuthorizationServer.replaceRegistry`), so a request always sees one consistent
// version of every client.

public import JOSE

/// Where a client's public keys come from (SMART 2.2 §"Registering a client": JWKS URL or JWKS by value).
public enum ClientKeySource: Sendable {
    /// A JWK Set registered by value.
    case inline(JWKSet)
    /// A TLS URL serving the client's JWK Set; fetched through `JWKSCache`.
    case url(String)

    /// The registered JWKS URL, if the keys come from one.
    public var url: String? {
        if case .url(let url) = self { return url }
        return nil
    }
}

/// One registered client with its key source.
public struct ClientRecord: Sendable {
    /// The registry entry.
    public let client: RegisteredClient
    /// Where its keys come from.
    public let keys: ClientKeySource

    /// Pairs a client with its key source.
    public init(client: RegisteredClient, keys: ClientKeySource) {
        self.client = client
        self.keys = keys
    }
}

/// An immutable snapshot of the registered clients.
public struct ClientRegistry: Sendable {
    private let records: [String: ClientRecord]

    /// Builds a snapshot; a later record with the same id replaces an earlier one (the loader rejects
    /// duplicates before this point).
    public init(_ records: [ClientRecord]) {
        var byID: [String: ClientRecord] = [:]
        for record in records { byID[record.client.id] = record }
        self.records = byID
    }

    /// The record for a client id (exact, case-sensitive match).
    public func record(id: String) -> ClientRecord? { records[id] }

    /// Every client id, sorted.
    public var clientIDs: [String] { records.keys.sorted() }
}
