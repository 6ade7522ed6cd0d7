"""Serial drivers: byte links, lock boards and scanners."""
