"""One PostgreSQL transaction's data access: the shared queries, and what READ COMMITTED
needs on top of them.

At READ COMMITTED every statement sees what was committed when it began, so a read followed
by a write based on it (the next seq of a site's stream, a parcel's state, the last free
slot) can race another process doing the same. SQLite never had the race: BEGIN IMMEDIATE
lets one writer in at a time. Here each such read takes a lock first, held to the end of
the transaction:

- a site's rows (stream, record, liveness, capacity): the site's advisory lock
  (`lock_site`), which ingest (every site of a batch, sorted, before anything else),
  placement, the timers' checks and reconciliation take, so one process at a time decides
  about one site; `stream` takes it itself. Reading a site's record or liveness does not:
  placement reads many candidate sites, and a lock taken per read, in the order of reading,
  would deadlock with ingest's sorted locks (and fill PostgreSQL's lock table when the
  network is loaded: one lock per site in one transaction);
- a parcel: its row (SELECT ... FOR UPDATE), since a parcel moves between sites; a chunk
  of parcels in one query, in label order: a feed's (`lock_parcels`, before any of their
  milestones is read) and an announcement's (`hold_parcels`) holding no site; placement's
  (`claim_parcels`) after the sites it waits for (sorted), then no more waiting for a
  site (`try_lock_site`). Two processes placing the same parcels in different orders
  claimed them one by one and deadlocked; in label order the first to take a chunk's
  first parcel places the chunk, and the other finds it moved on;
- due tasks: claimed with FOR UPDATE SKIP LOCKED, so two processes never take one task
  and neither waits for the other.

What remains guarded by the schema alone: the partial unique indexes (one held reservation
per slot and per parcel, one open alarm per cause) and the primary keys (an event stored
once per (stream, seq)).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from central.store.postgres.connection import PgConnection
from central.store.queries.session import SqlSession
from central.store.queries.tasks import task_from_row
from central.store.records import ParcelRecord, StreamCursor, TaskRecord

# Advisory lock keys are one 64-bit space per database; ours are hashed under a prefix so
# another application's keys (or our schema lock) are never taken by accident.
SITE_LOCK_PREFIX = "lockernet.site:"


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for `name` (the same in every process and
    every Python: never `hash()`, which is salted per process)."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def site_lock_key(site: str) -> int:
    """The advisory lock key of one site."""
    return lock_key(SITE_LOCK_PREFIX + site)


class PostgresSession(SqlSession):
    """Data access inside one READ COMMITTED transaction on a PostgreSQL connection."""

    _db: PgConnection
    # The promise's batches (central/store/queries/promise.py) never wait for a parcel's row.
    _BATCH_CLAIM = " FOR UPDATE SKIP LOCKED"
    # A chunk's parcels (ParcelQueries.lock_parcels, hold_parcels, claim_parcels) are held
    # in one query, in label order.
    _CHUNK_LOCK = " FOR UPDATE"

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested unit inside the transaction: on error only its own writes are undone.
        The unit's writes are synced before it is released, so an error of one of them is
        raised inside the unit (pipeline mode would raise it at some later read)."""
        self._db.execute("SAVEPOINT unit")
        actions = len(self._after_commit)
        try:
            yield
            self._db.sync()
        except BaseException:
            self._db.settle()
            self._db.execute("ROLLBACK TO unit")
            self._db.execute("RELEASE unit")
            self._site_cache.clear()  # it may hold a site the unit saved and is now undone
            del self._after_commit[actions:]  # what the unit did did not happen
            raise
        self._db.execute("RELEASE unit")

    def lock_site(self, site: str) -> None:
        """Serialise decisions on one site across every process: a transaction-scoped
        advisory lock (waits for the holder; released at commit or rollback; taking it
        again in the same transaction is free). What this transaction read of the site
        before is read again after it: another writer may have changed it meanwhile."""
        self._site_cache.pop(site, None)
        self._db.execute("SELECT pg_advisory_xact_lock(?)", (site_lock_key(site),)).fetchone()

    def lock_sites(self, sites: Iterable[str]) -> None:
        """Every one of `sites` locked in one round trip, in sorted site order (the order
        ingest, gaps, lapses and liveness all take them in). The ordered subquery makes the
        server take them in that order: a projection's function calls run after the sort."""
        ordered = sorted(set(sites))
        if not ordered:
            return
        for site in ordered:
            self._site_cache.pop(site, None)
        self._db.execute(
            """SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT k FROM unnest(?::bigint[])
                WITH ORDINALITY AS t(k, i) ORDER BY i) AS ordered""",
            ([site_lock_key(site) for site in ordered],),
        ).fetchone()

    def try_lock_site(self, site: str) -> bool:
        """The site's advisory lock if free now (True), else False at once."""
        self._site_cache.pop(site, None)
        row = self._db.execute(
            "SELECT pg_try_advisory_xact_lock(?)", (site_lock_key(site),)
        ).fetchone()
        return bool(row[0])

    def stream(self, site: str, epoch: str | None = None) -> StreamCursor:
        """The site's stream, read under the site's lock: ingest reads the cursor and then
        writes it, and two processes must not both take the same next event."""
        self.lock_site(site)
        return super().stream(site, epoch)

    def get_parcel(self, label: str) -> ParcelRecord | None:
        """The parcel, its row locked until the transaction ends: every lifecycle step reads
        the parcel's state and writes the next one."""
        return self._read_parcel(label, lock=True)

    def claim_tasks(
        self, now: float, owner: str, lease_until: float, limit: int = 200
    ) -> list[TaskRecord]:
        """Take due tasks no live process holds. Rows another process is claiming right now
        are skipped, not waited for (SKIP LOCKED); the lease lets another take over after a
        crash. The CTE locks its rows once, before the UPDATE reads them."""
        rows = self._db.execute(
            """WITH due AS (
                    SELECT id FROM tasks WHERE done_at IS NULL AND due_at <= ?
                        AND (claimed_until IS NULL OR claimed_until < ?)
                    ORDER BY due_at LIMIT ? FOR UPDATE SKIP LOCKED)
                UPDATE tasks t SET claimed_by = ?, claimed_until = ?,
                    attempts = t.attempts + 1
                FROM due WHERE t.id = due.id
                RETURNING t.kind, t.due_at, t.label, t.site, t.payload, t.attempts,
                    t.last_error, t.id""",
            (now, now, limit, owner, lease_until),
        ).fetchall()
        claimed = [task_from_row(r) for r in rows]
        return sorted(claimed, key=lambda t: (t.due_at, t.id or 0))

    def _claim_due_deliveries(self, now: float, lease_until: float, limit: int) -> list[int]:
        """Due webhook deliveries, claimed as due tasks are: rows another process is
        claiming right now are skipped, not waited for (SKIP LOCKED), so two processes never
        send one delivery at once."""
        rows = self._db.execute(
            """WITH due AS (
                    SELECT id FROM webhook_deliveries WHERE delivered_at IS NULL
                        AND failed_at IS NULL AND next_attempt_at <= ?
                    ORDER BY next_attempt_at, id LIMIT ? FOR UPDATE SKIP LOCKED)
                UPDATE webhook_deliveries d SET next_attempt_at = ?
                FROM due WHERE d.id = due.id
                RETURNING d.id""",
            (now, limit, lease_until),
        ).fetchall()
        return [int(r[0]) for r in rows]
