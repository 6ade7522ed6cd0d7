"""The site's decisions: slot table, lockout, trusted time (no I/O)."""
