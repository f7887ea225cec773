// JOSE module. See ARCHITECTURE.md §2.
