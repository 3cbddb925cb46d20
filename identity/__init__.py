"""Identity resolution: which person is behind an account."""
