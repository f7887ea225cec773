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
          policy explain [--config FILE] --client ID [--scope S] METHOD URL [--body FILE]
                                               show which rules match one request and why
          clients list|add|remove|suspend|activate [--config FILE] ...
                                               manage the requester registry (clients.yaml)
          keys generate --alg ES256|RS256 --out DIR
                                               create a token-signing key
          token --client ID --key KEY.pem --token-url URL [--scope S] [--kid KID] [--alg ES384|RS384] [--cacert FILE]
                                               act as a SMART backend client: sign an assertion, print a token
          audit verify FILE...                 check the audit hash chain; names the first broken record
          version                              print the version

        The config file defaults to ./gateway.yaml. Every field is documented in docs/configuration.md.
        """
}
