"""One transaction's data access: the aggregates' queries composed into `StoreSession`.

All SQL of central's store lives in the aggregates' modules beside this one (sites, streams,
parcels, reservations, codes, tasks, commands, alarms, removals); this class adds what spans
them (a savepoint, the site lock).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from central.store.base import StoreSession
from central.store.sqlite.alarms import AlarmQueries
from central.store.sqlite.codes import CodeQueries
from central.store.sqlite.commands import CommandQueries
from central.store.sqlite.parcels import ParcelQueries
from central.store.sqlite.removals import RemovalQueries
from central.store.sqlite.reservations import ReservationQueries
from central.store.sqlite.sites import SiteQueries
from central.store.sqlite.streams import StreamQueries
from central.store.sqlite.tasks import TaskQueries


class SqliteSession(
    SiteQueries,
    StreamQueries,
    ParcelQueries,
    ReservationQueries,
    CodeQueries,
    TaskQueries,
    CommandQueries,
    AlarmQueries,
    RemovalQueries,
):
    """Data access inside one transaction, on the connection that holds it."""

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested unit inside the transaction: on error only its own writes are undone."""
        self._db.execute("SAVEPOINT unit")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK TO unit")
            self._db.execute("RELEASE unit")
            raise
        self._db.execute("RELEASE unit")

    def lock_site(self, site: str) -> None:
        """Serialise capacity decisions on one site. BEGIN IMMEDIATE already serialises
        every writer here; a PostgreSQL store takes a row lock (SELECT ... FOR UPDATE)."""


def _conforms(session: SqliteSession) -> StoreSession:
    """Never called: makes mypy prove SqliteSession fills the StoreSession interface."""
    return session
