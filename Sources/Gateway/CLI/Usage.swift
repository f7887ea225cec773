// The help text of every command: `pdmp-gateway --help` lists the commands; `pdmp-gateway COMMAND --help`
// (or `-h`) prints that command's own usage and options. docs/cli.md says the same at more length.

enum Usage {
    static let main = """
        pdmp-gateway: a TLS-terminating security gateway for PDMP FHIR servers.

        Usage: pdmp-gateway COMMAND [OPTIONS]

        Commands:
          serve            run the gateway (SIGTERM drains, SIGHUP reloads)
          check            validate everything serve loads; print every problem
          policy test      run policy test cases
          policy check     validate the policy files
          policy explain   show how the policies decide one request, and why
          clients list|add|remove|suspend|activate
                           read or change the requester registry
          keys generate    create a token-signing key
          token            act as a SMART backend client: print an access token
          audit verify     check the audit hash chain
          audit bench      measure durable audit records/s on a disk
          version          print the version

        Run `pdmp-gateway COMMAND --help` for a command's options.
        Exit status: 0 success, 1 a check or test failed (or the command could not do its work), 2 usage error.
        Registry changes reach a running gateway within about a second (it watches the clients file); key
        changes on its next reload (SIGHUP or POST /admin/reload).
        The config file defaults to ./gateway.yaml (every command that reads it takes --config FILE).
        Every field is documented in docs/configuration.md; every command in docs/cli.md.
        """

    static let serve = """
        Usage: pdmp-gateway serve [--config FILE]

        Runs the gateway: loads what `check` validates, then listens. SIGHUP (or POST /admin/reload)
        reloads configuration, clients and policies; SIGTERM or SIGINT drains in-flight requests and exits 0.

        Options:
          --config FILE   the configuration (default ./gateway.yaml)

        Exit status: 0 after a drain, 1 when it cannot start (every problem is printed).
        """

    static let check = """
        Usage: pdmp-gateway check [--config FILE]

        Loads and validates everything serve loads, without binding ports: the configuration, policies, the
        client registry, signing keys, the audit identifier-hash key, the TLS certificate and key, the upstream
        and issuer CA files. Prints every problem (`file:line:column: key: problem` where a line is known) and
        warnings (private keys that other users can read).

        Options:
          --config FILE   the configuration (default ./gateway.yaml)

        Exit status: 0 valid (warnings allowed), 1 a problem was found.
        """

    static let version = """
        Usage: pdmp-gateway version

        Prints the version.
        """

    static let policy = """
        Usage: pdmp-gateway policy test|check|explain [OPTIONS]

          policy test      run policy test cases
          policy check     validate the policy files
          policy explain   show how the policies decide one request, and why

        Run `pdmp-gateway policy SUBCOMMAND --help` for its options.
        """

    /// The part every policy command shares: where the policies come from.
    static let policySource = """
          --config FILE     take policies, clients and the FHIR base from this configuration
          --policies DIR    the policy directory (overrides the configuration's `policies`)
        Without --config: ./gateway.yaml when it exists, else ./policies (and ./clients.yaml) with the
        default FHIR base /fhir.
        """

    static let policyTest = """
        Usage: pdmp-gateway policy test [--config FILE] [--policies DIR] [PATH...]

        Runs policy test cases (files or directories of *.yaml; default: <policies>/tests) through the
        gateway's request classifier and the policy set; one PASS/FAIL line per case and a summary.

        Options:
        \(policySource)

        Exit status: 0 every case passed, 1 a case failed, none was found, or the policies do not load.
        """

    static let policyCheck = """
        Usage: pdmp-gateway policy check [--config FILE] [--policies DIR]

        Loads the policy files and prints every problem (`file:line:column: problem`): unknown attributes,
        wrong types, duplicate rule names, rules that can never match.

        Options:
        \(policySource)

        Exit status: 0 valid, 1 a problem was found.
        """

    static let policyExplain = """
        Usage: pdmp-gateway policy explain --client ID [OPTIONS] METHOD URL

        Shows the scope decision, the patient-context check and every rule's conditions for one request from
        a registered client, then the decision. Nothing is sent anywhere.

        Options:
          --client ID           required: a client in the registry
          --scope S             the token's scopes (repeatable; default: the client's registered scopes)
          --patient P           the token's patient context
          --body FILE           the request body (for $pdmp-history and other POSTs)
          --content-type T      default application/fhir+json when a body is given
          --clients FILE        the client registry (default: the configuration's auth.clients)
        \(policySource)

        Exit status: 0 an explanation was printed, 1 the policies, registry or client could not be loaded.
        """

    static let clients = """
        Usage: pdmp-gateway clients list|add|remove|suspend|activate [--config FILE] ...

          clients list [--json]                 list the registry (auth.clients in the configuration)
          clients add ID [OPTIONS] KEY          register a requester (see `clients add --help`)
          clients remove ID                     delete a registration
          clients suspend ID                    refuse its tokens and assertions from the next reload
          clients activate ID                   undo suspend

        Options:
          --config FILE   the configuration naming the registry (default ./gateway.yaml)

        Changes reach a running gateway within about a second (it watches the clients file).
        """

    static let clientsAdd = """
        Usage: pdmp-gateway clients add ID [OPTIONS] (--jwks FILE | --jwks-url URL | --public-key PEM)

        Registers a requester in the registry named by the configuration.

        Options:
          --name N                      display name
          --kind provider|organization  default provider
          --npi X, --dea X              registered practitioner identifiers (repeatable)
          --role R                      roles used by policies, e.g. prescriber, pharmacist (repeatable)
          --network CIDR                networks the client calls from (repeatable)
          --scope S                     scopes it may be granted (repeatable)
          --jwks FILE                   its public JWK Set
          --jwks-url URL                an https URL of its JWK Set
          --public-key PEM              a PEM public key; with --kid KID and --alg ES384|RS384
          --replace                     replace an existing registration of ID
          --config FILE                 the configuration (default ./gateway.yaml)
        """

    static let keys = """
        Usage: pdmp-gateway keys generate --out DIR [--alg ES256|ES384|RS256|RS384]

        Creates a token-signing key (mode 0600) in DIR, the configuration's auth.signing_keys directory. The
        newest key signs after the next reload; older keys keep verifying the tokens they signed.

        Options:
          --out DIR     the signing-key directory (required)
          --alg ALG     ES256 (default), ES384, RS256 or RS384
        """

    static let token = """
        Usage: pdmp-gateway token --client ID --key KEY.pem --token-url URL [OPTIONS]

        Acts as a SMART Backend Services client: signs a client assertion with KEY.pem, asks the token
        endpoint for an access token and prints only the token (TOKEN=$(pdmp-gateway token ...)).

        Options:
          --client ID        the registered client id (required)
          --key KEY.pem      the client's private key (required)
          --token-url URL    the token endpoint, e.g. https://127.0.0.1:8443/auth/token (required)
          --scope S          requested scopes (repeatable; default system/*.rs)
          --kid KID          key id in the assertion (default: the RFC 7638 thumbprint of the key)
          --alg ALG          ES384, RS384, ... (default: by key type)
          --cacert FILE      CA bundle that verifies the token endpoint
          --json             print the whole token response
          --request-bodies N instead: print N signed token request bodies, one per line, and post
                             nothing (pre-signed requests for load tests)

        Exit status: 0 a token was printed, 1 the request was refused (the error JSON goes to stderr).
        """

    static let auditBench = """
        Usage: pdmp-gateway audit bench [--records N] [--producers P] [--dir DIR] [--keep]

        Measures durable audit records per second on DIR's disk, against plain write + fdatasync of the
        same bytes (docs/audit.md).

        Options:
          --records N      records to write (default 20000)
          --producers P    concurrent writers (default 4)
          --dir DIR        the disk to measure: files go under DIR (default .)
          --keep           keep the files written

        Exit status: 0 done, 1 a record failed or the chain does not verify.
        """

    static let audit = """
        Usage: pdmp-gateway audit verify FILE|DIR...

        Checks the audit hash chain across the files in the order given (a directory stands for its chain
        files in order) and names the first broken record.

        Exit status: 0 the chain is intact, 1 it is broken or a file is missing, 2 no files given.
        """

    /// The most specific help for the words given (`policy test` before `policy`), else the overview.
    static func text(for words: [String]) -> String {
        switch (words.first, words.dropFirst().first) {
        case ("serve", _): serve
        case ("check", _): check
        case ("version", _): version
        case ("policy", "test"): policyTest
        case ("policy", "check"): policyCheck
        case ("policy", "explain"): policyExplain
        case ("policy", _): policy
        case ("clients", "add"): clientsAdd
        case ("clients", _): clients
        case ("keys", _): keys
        case ("token", _): token
        case ("audit", "bench"): auditBench
        case ("audit", _): audit
        default: main
        }
    }
}
