"""The pure activity core: one schema for every network, normalizers, text extraction, dead letters."""
