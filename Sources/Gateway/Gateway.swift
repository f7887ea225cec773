// Gateway module. See ARCHITECTURE.md §2.
