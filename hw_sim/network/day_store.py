"""Central's store for the day: where it is, and central.toml's `[store]` that names it.

By default a SQLite file in the day's work folder. `lockernet sim --store` names another:
a SQLite path or `sqlite:` url (used as given), or a PostgreSQL server the user runs
(`postgresql://user@host/db`). On a server the day gets a database of its own, created
beside the one named (`<db>_sim_<8 hex>`) and dropped at the end, so a day never mixes with
an earlier one's rows and leaves nothing behind; the role in the url needs CREATEDB.

Only this file speaks to PostgreSQL itself, and only to create and drop that database:
central's rows are written by central and read through its read path
(`central.store.open.open_reader`), never from here.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from central.service.config import StoreConfig
from central.store.postgres.url import is_postgres_url, redact
from hw_sim.errors import ConfigError

SQLITE_PREFIX = "sqlite:"
DEFAULT_FILE = "central.sqlite"
# Seconds to reach the server before the day gives up with the server's own words.
CONNECT_TIMEOUT_S = 10


def is_postgres(location: str | Path) -> bool:
    """Whether `location` names a PostgreSQL database (a postgresql:// or postgres:// url)."""
    return isinstance(location, str) and is_postgres_url(location)


@dataclass
class DayStore:
    """The day's store: `location` is what central's reader opens (a path or a url),
    `section` is central.toml's `[store]`. Planned without touching anything (`plan`); a
    database on a server is made by `create` and dropped by `close`."""

    location: str | Path
    section: dict[str, str]
    server: str | None = field(default=None, repr=False)  # where the day's database goes
    _created: bool = field(default=False, repr=False)

    @classmethod
    def plan(cls, given: str | None, workdir: Path) -> DayStore:
        """The store `given` names (None: a SQLite file in `workdir`); for a PostgreSQL url,
        a new database on that server, named after the url's."""
        if given is None:
            path = workdir / DEFAULT_FILE
            return cls(path, {"path": str(path)})
        if is_postgres(given):
            parts = urlsplit(given)
            name = f"{_database_of(given) or 'lockernet'}_sim_{secrets.token_hex(4)}"
            url = urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))
            return cls(url, {"url": url}, server=given)
        if given.startswith(SQLITE_PREFIX):
            return cls(given, {"url": given})
        path = Path(given).expanduser().resolve()
        return cls(path, {"path": str(path)})

    def create(self) -> None:
        """Create the day's database on the server (for SQLite central creates its file).
        Raises ConfigError naming the url and the server's reason, or a SQLite file that is
        already there (an earlier day's rows would be counted in this one's verdict)."""
        if self.server is None:
            path = self._sqlite_path()
            if path.exists():
                raise ConfigError(
                    f"--store {path}: the file exists; a day needs a store of its own "
                    "(remove it or name another)"
                )
            return
        if self._created:
            return
        import psycopg
        from psycopg import sql

        name = _database_of(str(self.location))
        try:
            with psycopg.connect(
                self.server, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
            ) as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.Error as exc:
            raise ConfigError(
                f"--store {redact(self.server)}: cannot create the day's database "
                f"{name!r} ({exc}); the role needs CREATEDB, or name a SQLite file instead"
            ) from None
        self._created = True

    def close(self) -> None:
        """Drop the day's database if `create` made one (a SQLite file stays, with the work
        folder's fate). Safe to call twice."""
        if self.server is None or not self._created:
            return
        import psycopg
        from psycopg import sql

        self._created = False
        name = _database_of(str(self.location))
        with psycopg.connect(
            self.server, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
        ) as conn:
            # FORCE: a central process killed -9 may hold a session the server has not
            # noticed yet, and a plain DROP would refuse.
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def _sqlite_path(self) -> Path:
        if isinstance(self.location, Path):
            return self.location
        try:
            return StoreConfig(url=self.location).path  # central's reading of a sqlite: url
        except ValueError as exc:
            raise ConfigError(f"--store {self.location}: {exc}") from None


def _database_of(url: str) -> str:
    return urlsplit(url).path.lstrip("/")
