// Policy module. See ARCHITECTURE.md §2.
