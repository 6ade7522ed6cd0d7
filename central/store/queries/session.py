"""One transaction's data access: the aggregates' queries composed into `StoreSession`.

All SQL of central's store lives in the aggregates' modules beside this one (sites, streams,
parcels, reservations, codes, tasks, commands, alarms, removals); this class adds what spans
them (a savepoint, the site lock).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from central.store.base import StoreSession
from central.store.queries.alarms import AlarmQueries
from central.store.queries.audit import AuditQueries
from central.store.queries.badges import BadgeQueries
from central.store.queries.base import SqlConnection
from central.store.queries.codes import CodeQueries
from central.store.queries.commands import CommandQueries
from central.store.queries.deliveries import DeliveryQueries
from central.store.queries.milestones import MilestoneQueries
from central.store.queries.notifications import NotificationQueries
from central.store.queries.parcels import ParcelQueries
from central.store.queries.partners import PartnerQueries
from central.store.queries.processes import ProcessQueries
from central.store.queries.promise import PromiseQueries
from central.store.queries.refusals import RefusalQueries
from central.store.queries.removals import RemovalQueries
from central.store.queries.reservations import ReservationQueries
from central.store.queries.returns import ReturnQueries
from central.store.queries.sites import SiteQueries
from central.store.queries.streams import StreamQueries
from central.store.queries.tasks import TaskQueries
from central.store.queries.users import UserQueries
from central.store.queries.webhooks import WebhookQueries


class SqlSession(
    SiteQueries,
    StreamQueries,
    ParcelQueries,
    ReservationQueries,
    CodeQueries,
    TaskQueries,
    CommandQueries,
    AlarmQueries,
    RemovalQueries,
    ProcessQueries,
    AuditQueries,
    BadgeQueries,
    PartnerQueries,
    WebhookQueries,
    UserQueries,
    RefusalQueries,
    MilestoneQueries,
    DeliveryQueries,
    ReturnQueries,
    NotificationQueries,
    PromiseQueries,
):
    """Data access inside one transaction, on the connection that holds it."""

    def __init__(self, conn: SqlConnection) -> None:
        super().__init__(conn)
        self._after_commit: list[Callable[[], None]] = []

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested unit inside the transaction: on error only its own writes are undone."""
        self._db.execute("SAVEPOINT unit")
        actions = len(self._after_commit)
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK TO unit")
            self._db.execute("RELEASE unit")
            self._site_cache.clear()  # it may hold a site the unit saved and is now undone
            del self._after_commit[actions:]  # what the unit did did not happen
            raise
        self._db.execute("RELEASE unit")

    def after_commit(self, action: Callable[[], None]) -> None:
        """Run `action` once the transaction has committed; never if it (or the savepoint
        the call was made in) rolls back."""
        self._after_commit.append(action)

    def committed(self) -> None:
        """The store committed this transaction: run what waited for it, in order."""
        actions, self._after_commit = self._after_commit, []
        for action in actions:
            action()

    def lock_site(self, site: str) -> None:
        """Serialise decisions on one site. Here nothing to do: SQLite's BEGIN IMMEDIATE
        already serialises every writer; a PostgreSQL session takes an advisory lock."""

    def lock_sites(self, sites: Iterable[str]) -> None:
        """`lock_site` for each of `sites`, sorted (the one order every process locks in)."""
        for site in sorted(set(sites)):
            self.lock_site(site)

    def try_lock_site(self, site: str) -> bool:
        """Take the site's lock without waiting; always True where the transaction already
        holds the whole database (SQLite)."""
        return True


def _conforms(session: SqlSession) -> StoreSession:
    """Never called: makes mypy prove SqlSession fills the StoreSession interface."""
    return session
