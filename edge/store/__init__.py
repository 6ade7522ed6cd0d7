"""The site's durable store (SQLite, WAL) and crash recovery."""
