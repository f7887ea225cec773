// Who is calling (ARCHITECTURE §1 step 1): the result of bearer-token validation, enriched from the
// client registry. Policy and audit read it; nothing downstream sees the raw token.

/// A requester registered with this gateway (`clients.yaml`).
public struct RegisteredClient: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable { case provider, organization }
    public enum Status: String, Sendable, Hashable { case active, suspended }

    public var id: String
    public var name: String
    public var kind: Kind
    /// NPIs registered for this client (a provider's own, or an organization's practitioners').
    public var npis: [String]
    /// DEA numbers registered for this client.
    public var deas: [String]
    /// Roles, e.g. `prescriber`, `pharmacist`, `delegate`, `veterinarian`.
    public var roles: [String]
    /// Network ranges (CIDR) the client calls from, for organization clients.
    public var networks: [String]
    /// Scopes this client may be granted (space-separated SMART scopes).
    public var allowedScopes: [String]
    public var status: Status

    public init(
        id: String, name: String, kind: Kind, npis: [String] = [], deas: [String] = [], roles: [String] = [],
        networks: [String] = [], allowedScopes: [String] = [], status: Status = .active
    ) {
        self.id = id
        self.name = name
        self.kind = kind
        self.npis = npis
        self.deas = deas
        self.roles = roles
        self.networks = networks
        self.allowedScopes = allowedScopes
        self.status = status
    }
}

/// The authenticated caller of one request.
public struct Principal: Sendable, Hashable {
    /// The OAuth client id (`client_id` / `sub` of the access token).
    public var clientID: String
    /// The token's issuer (`iss`).
    public var issuer: String
    /// The granted scopes as strings, exactly as the token carries them.
    public var scopes: [String]
    /// The patient context (`patient` claim), if any.
    public var patient: String?
    /// A purpose-of-use claim, if present.
    public var purposeOfUse: String?
    /// The token's `jti` (for revocation and audit); never the token itself.
    public var tokenID: String?
    /// Expiry of the token, seconds since the epoch.
    public var expiresAt: Double
    /// The registry entry, when the client is registered here (always for the gateway's own tokens).
    public var client: RegisteredClient?

    public init(
        clientID: String, issuer: String, scopes: [String], patient: String? = nil, purposeOfUse: String? = nil,
        tokenID: String? = nil, expiresAt: Double, client: RegisteredClient? = nil
    ) {
        self.clientID = clientID
        self.issuer = issuer
        self.scopes = scopes
        self.patient = patient
        self.purposeOfUse = purposeOfUse
        self.tokenID = tokenID
        self.expiresAt = expiresAt
        self.client = client
    }
}
