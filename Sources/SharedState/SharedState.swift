// SharedState module. See ARCHITECTURE.md §2.
