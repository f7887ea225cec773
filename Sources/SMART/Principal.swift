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
    /// The patient context (`patient` claim), if any. A claim that is present but not a plain FHIR id
    /// (`""`, `null`, an array, `"Patient/pt-alice"`, `"pt-alice "`) becomes ``unusablePatientContext``, so
    /// that the token keeps a patient restriction that matches no patient (SCP-04).
    public var patient: String?
    /// A purpose-of-use claim, if present.
    public var purposeOfUse: String?
    /// The token's `jti` (for revocation and audit); never the token itself.
    public var tokenID: String?
    /// Expiry of the token, seconds since the epoch.
    public var expiresAt: Double
    /// The registry entry, when the client is registered here (always for the gateway's own tokens).
    public var client: RegisteredClient?

    /// The `patient` of a token whose patient claim is present but unusable. It is not a FHIR id (`#` is
    /// outside `[A-Za-z0-9.-]`), so no request can name it: patient-level scopes grant nothing, the
    /// compartment check denies every patient, and the answer is 403, not 401 (SCP-04, pinned).
    public static let unusablePatientContext = "#unusable-patient-claim"

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
