"""The store contract: one set of tests every implementation of central's store must pass.

Each test takes `any_store` (or `store_location`, to open the same store again in another
thread or process) and runs once per store: SQLite on a temporary file, PostgreSQL on a
fresh database of the session's private server. A new store joins by adding its name to
`STORES` in conftest.py and a branch to `open_location` in stores.py.
"""
