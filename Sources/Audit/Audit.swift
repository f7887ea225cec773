// Audit module. See ARCHITECTURE.md §2.
