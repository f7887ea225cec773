// GatewayCrypto module. See ARCHITECTURE.md §2.
