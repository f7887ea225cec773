// GatewayTesting module. See ARCHITECTURE.md §2.
