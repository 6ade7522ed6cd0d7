"""Central's store in one SQLite file: the store (connections, migrations, transactions) and
a session composed of one query class per aggregate."""

from central.store.queries.session import SqlSession
from central.store.sqlite.store import BUSY_TIMEOUT_MS, SqliteStore, WriterTurns

__all__ = ["BUSY_TIMEOUT_MS", "SqlSession", "SqliteStore", "WriterTurns"]
