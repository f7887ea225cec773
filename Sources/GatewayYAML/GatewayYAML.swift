// GatewayYAML module. See ARCHITECTURE.md §2.
