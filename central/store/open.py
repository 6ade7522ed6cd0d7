"""Opening central's store from its configuration: SQLite or PostgreSQL, by `store.url`.

    store = open_store(config.store)                  # a CentralStore, for writing
    reader = open_reader(store_location(config.store))  # a StoreReader, for reports

`store_location` is the one string that names a store, for a reader or a child process:
the SQLite file's absolute path, or the PostgreSQL url (with its password, if the config
has one: it is needed to connect; show `redact(location)` instead).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from central.errors import ConfigError
from central.service.config import StoreConfig
from central.store.base import CentralStore
from central.store.postgres.url import is_postgres_url

if TYPE_CHECKING:
    from central.store.read import StoreReader


def open_store(config: StoreConfig) -> CentralStore:
    """The store `config` names, migrated to this build's schema.

    Raises StoreError if it cannot be reached or its schema is newer than this build's;
    psycopg.Error or sqlite3.Error for the engine's own failures."""
    if config.url is not None:
        from central.store.postgres import PostgresStore

        return PostgresStore(config.url)
    from central.store.sqlite import SqliteStore

    return SqliteStore(config.path)


def store_location(config: StoreConfig) -> str:
    """What names the store for `open_reader` or another process: the PostgreSQL url, or
    the SQLite file's absolute path."""
    if config.url is not None:
        return config.url
    return str(config.path.resolve())


def open_reader(location: str | Path) -> StoreReader:
    """A read-only reader of the store at `location`: a SQLite path (or sqlite: url) or a
    postgresql:// url (see `store_location`).

    Raises ConfigError for a location that is neither, StoreError if no store is there or its
    schema is not this build's."""
    from central.store.read import SqliteReader

    if isinstance(location, Path):
        return SqliteReader.open(location)
    if is_postgres_url(location):
        from central.store.postgres.reader import PostgresReader

        return PostgresReader.open(location)
    if location.startswith("sqlite:"):
        try:
            path = StoreConfig(url=location).path
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        return SqliteReader.open(path)
    if "://" in location:
        scheme = location.split("://", 1)[0]
        raise ConfigError(f"store location {scheme}://... is neither sqlite: nor postgresql://")
    return SqliteReader.open(Path(location))
