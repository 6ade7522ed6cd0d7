"""Central's SQL, one query class per aggregate, written once for every SQL store.

The statements use `?` placeholders and only SQL that SQLite (3.35+) and PostgreSQL (13+) both
run (ON CONFLICT, RETURNING, named columns); a store hands its connection in through the small
`SqlConnection` interface (central.store.queries.base), translating placeholders if it must.
What differs between engines (locks, task claims) a store's session overrides.
"""
