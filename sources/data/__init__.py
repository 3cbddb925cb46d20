"""Data bundled with the sources package."""
