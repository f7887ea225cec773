// The help text of every command (`pdmp-gateway --help`, `pdmp-gateway COMMAND --help`).

enum Usage {
    static let main = """
        pdmp-gateway: a TLS-terminating security gateway for PDMP FHIR servers.

        Usage: pdmp-gateway COMMAND [OPTIONS]

        Commands:
          serve   [--config FILE]              run the gateway (SIGTERM drains, SIGHUP reloads)
          check   [--config FILE]              validate config, clients and policies; exit 1 with file:line errors
          policy test    [--config FILE] [PATH...]
                                               run policy test cases (default: <policies>/tests)
          policy explain [--config FILE] --client ID [--scope S] [--patient P] METHOD URL
                         [--body FILE] [--content-type T]
                                               show the scope decision and which rules match one request, and why
          clients list [--json]                list the requester registry (auth.clients in the config)
          clients add ID [--name N] [--kind provider|organization] [--npi X]... [--dea X]... [--role R]...
                         [--network CIDR]... [--scope S]... [--replace]
                         (--jwks FILE | --jwks-url URL | --public-key PEM [--kid KID] [--alg ES384|RS384])
          clients remove|suspend|activate ID   change one registration (every clients command takes --config)
          keys generate [--alg ES256|ES384|RS256|RS384] --out DIR
                                               create a token-signing key (default ES256)
          token --client ID --key KEY.pem --token-url URL [--scope S] [--kid KID] [--alg ES384|RS384]
                [--cacert FILE] [--json]       act as a SMART backend client: print an access token
                [--request-bodies N]           instead: print N token request bodies (load tests), post nothing
          audit verify FILE|DIR...             check the audit hash chain; names the first broken record
          version                              print the version

        Exit status: 0 success, 1 a check or test failed (or the command could not do its work), 2 usage error.
        Registry changes reach a running gateway within about a second (it watches the clients file); key
        changes on its next reload (SIGHUP or POST /admin/reload).
        The config file defaults to ./gateway.yaml. Every field is documented in docs/configuration.md;
        every command in docs/cli.md.
        """
}
