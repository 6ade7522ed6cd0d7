"""Central's store on PostgreSQL: the same queries as SQLite's (central.store.queries) over a
pool of psycopg connections, with per-site advisory locks for READ COMMITTED."""

from central.store.postgres.session import PostgresSession
from central.store.postgres.store import PostgresStore

__all__ = ["PostgresSession", "PostgresStore"]
