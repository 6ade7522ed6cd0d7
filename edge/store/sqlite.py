"""The site's durable store: SQLite in WAL mode, one file per site.

It holds the slots, the parcels the site expects (reservations), the parcels marked for
removal, used and revoked codes, revoked courier badges, return labels used, seen command
nonces, and the outbox of events with the site's sequence number. Every decision and the
event it produces are written in one transaction, and the transaction is on disk
(synchronous=FULL: the WAL is fsynced at every commit) before the door moves or the event is
published. Only the outbox's acknowledgements are committed without an fsync of their own
(`acknowledge`): a lost one sends an event again, which central deduplicates, and the next
durable commit's fsync carries it to the disk anyway. Checkpoints (copying the WAL back into
the database file, two more fsyncs) run from the timers (`checkpoint_if_due`), never inside
the commit of a scan that is about to open a door.
"""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from edge.errors import EdgeError
from edge.host.ownership import SiteLock
from edge.site.records import Expected, SlotRecord
from edge.site.slots import Trigger, next_state
from edge.store.returns import ReturnDrops
from edge.store.schema import SCHEMA
from protocols.messages import Event, EventPayload, SizeClass, SlotState, encode

# How long one statement waits for another connection's write lock. SQLite's busy wait sleeps
# in the calling thread, which is the agent's whole event loop (Python's default is 5 s: every
# door, scan and the watchdog frozen). The site's lock leaves no other agent writing here, so
# the only rivals are a technician's sqlite3 shell or a backup: wait briefly, then refuse with
# StoreUnavailable; the caller retries without blocking the loop (a person scans again, a
# supervised task restarts after an awaited backoff).
BUSY_TIMEOUT_S = 0.05
# No cap on the file's size: SQLite clamps this to its compile-time SQLITE_MAX_PAGE_COUNT.
NO_PAGE_CAP = 0xFFFFFFFE
# SQLite's page cache for the site's file, in KiB (negative: KiB in PRAGMA cache_size). A
# site's store is a few hundred KiB (slots, reservations, the outbox pruned after
# timing.sent_retention_s): 512 KiB holds it whole, against SQLite's default of 2,000 KiB
# that a long-lived agent would fill with pages of pruned rows (docs/edge.md, Footprint).
CACHE_KIB = 512
# Commits after which the timers copy the WAL back into the database file (a passive
# checkpoint). SQLite's own automatic checkpoint (every 1,000 WAL pages) is turned off: it
# runs inside whichever commit crosses the mark, and that may be a pickup's, before its door
# opens. ~4 pages a commit: the WAL stays under ~1 MiB.
CHECKPOINT_EVERY_COMMITS = 64


# The meta key of the stream's epoch, and its size: 8 random bytes make two stores of one
# site that share an epoch (and so a stream at central) as unlikely as a lost write.
EPOCH_KEY = "epoch"
EPOCH_BYTES = 8


class StoreError(EdgeError):
    """The store refused an operation (an unknown slot, a corrupt file)."""


class StoreUnavailable(StoreError):
    """A write could not be made durable (disk full, I/O error, the database locked or
    corrupt): nothing of the transaction was kept, and nothing that depends on it may happen
    (no door moves). `code` is SQLite's error name, e.g. SQLITE_FULL."""

    def __init__(self, path: Path, code: str, detail: str) -> None:
        self.code = code
        super().__init__(f"{path}: cannot write the site store ({code}: {detail})")


def _is_medium_error(exc: BaseException) -> bool:
    # Errors of the medium or of another connection, not of our SQL: IntegrityError and the
    # like stay as they are (a bug to see); a full or failing card becomes StoreUnavailable.
    return isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError


@dataclass(frozen=True)
class OutboxRow:
    seq: int
    message: bytes


def _slot(row: sqlite3.Row) -> SlotRecord:
    return SlotRecord(
        row["id"],
        SizeClass(row["size"]),
        SlotState(row["state"]),
        row["parcel"],
        row["reserved_for"],
        row["opened_at"],
        row["opened_by"],
        row["open_ref"],
        row["released_at"],
    )


class Transaction(ReturnDrops):
    """Reads and writes inside one SQLite transaction."""

    def __init__(self, db: sqlite3.Connection, site: str, epoch: str | None = None) -> None:
        self._db = db
        self._site = site
        self._epoch = epoch

    # ---------------------------------------------------------------------------- slots
    def slot(self, slot_id: str) -> SlotRecord:
        row = self._db.execute("SELECT * FROM slots WHERE id = ?", (slot_id,)).fetchone()
        if row is None:
            raise StoreError(f"no slot {slot_id!r} at this site")
        return _slot(row)

    def slots(self) -> list[SlotRecord]:
        return [_slot(r) for r in self._db.execute("SELECT * FROM slots ORDER BY id")]

    def slot_holding(self, parcel: str) -> SlotRecord | None:
        row = self._db.execute("SELECT * FROM slots WHERE parcel = ?", (parcel,)).fetchone()
        return None if row is None else _slot(row)

    def move(
        self,
        slot_id: str,
        trigger: Trigger,
        now: float,
        *,
        parcel: str | bool | None = False,
        opened_by: str | None = None,
        open_ref: str | None = None,
    ) -> SlotRecord:
        """Move a slot through the transition table; `parcel=False` leaves the parcel as is."""
        current = self.slot(slot_id)
        state = next_state(current.state, trigger)
        opening = state.value.startswith("open_for")
        new_parcel = current.parcel if parcel is False else parcel
        self._db.execute(
            "UPDATE slots SET state = ?, parcel = ?, opened_at = ?, opened_by = ?, open_ref = ?,"
            " released_at = NULL, updated_at = ? WHERE id = ?",
            (
                state.value,
                new_parcel,
                now if opening else None,
                opened_by if opening else None,
                open_ref if opening else None,
                now,
                slot_id,
            ),
        )
        return self.slot(slot_id)

    def mark_released(self, slot_id: str, now: float) -> None:
        """The board confirmed this open slot's release (cleared by the slot's next move)."""
        self._db.execute("UPDATE slots SET released_at = ? WHERE id = ?", (now, slot_id))

    def set_reserved_for(self, slot_id: str, parcel: str | None) -> None:
        self._db.execute("UPDATE slots SET reserved_for = ? WHERE id = ?", (parcel, slot_id))

    # ------------------------------------------------------------------ expected parcels
    def expect(self, parcel: str, size: SizeClass, slot: str | None, until: float) -> None:
        self._db.execute(
            "INSERT INTO expected (parcel, size, slot, until) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (parcel) DO UPDATE SET size = excluded.size, slot = excluded.slot,"
            " until = excluded.until",
            (parcel, size.value, slot, until),
        )

    def expected(self, parcel: str) -> Expected | None:
        row = self._db.execute("SELECT * FROM expected WHERE parcel = ?", (parcel,)).fetchone()
        if row is None:
            return None
        return Expected(row["parcel"], SizeClass(row["size"]), row["slot"], row["until"])

    def lapsed(self, now: float) -> list[Expected]:
        rows = self._db.execute("SELECT * FROM expected WHERE until <= ?", (now,))
        return [Expected(r["parcel"], SizeClass(r["size"]), r["slot"], r["until"]) for r in rows]

    def forget_expected(self, parcel: str) -> None:
        self._db.execute("DELETE FROM expected WHERE parcel = ?", (parcel,))

    # -------------------------------------------------------------------------- removals
    def mark_for_removal(self, parcel: str, reason: str, now: float) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO removals (parcel, reason, at) VALUES (?, ?, ?)",
            (parcel, reason, now),
        )

    def removal_reason(self, parcel: str) -> str | None:
        row = self._db.execute("SELECT reason FROM removals WHERE parcel = ?", (parcel,))
        found = row.fetchone()
        return None if found is None else str(found["reason"])

    def removals(self) -> list[str]:
        return [r["parcel"] for r in self._db.execute("SELECT parcel FROM removals")]

    def removed(self, parcel: str) -> None:
        self._db.execute("DELETE FROM removals WHERE parcel = ?", (parcel,))

    def parcel_here(self, parcel: str) -> bool:
        """A slot or the shelf holds `parcel`, or the site still expects it (a return ordered
        before the courier brought it stays until the parcel comes or its reservation lapses)."""
        row = self._db.execute(
            "SELECT EXISTS (SELECT 1 FROM slots WHERE parcel = :p)"
            " OR EXISTS (SELECT 1 FROM shelf WHERE parcel = :p)"
            " OR EXISTS (SELECT 1 FROM expected WHERE parcel = :p) AS here",
            {"p": parcel},
        )
        return bool(row.fetchone()["here"])

    def forget_removals_not_here(self) -> list[str]:
        """Delete the removal entries of parcels no longer here (`parcel_here` false:
        picked up, removed, never arrived); returns their labels."""
        stale = [
            str(r["parcel"])
            for r in self._db.execute("SELECT parcel FROM removals")
            if not self.parcel_here(str(r["parcel"]))
        ]
        for parcel in stale:
            self.removed(parcel)
        return stale

    # ------------------------------------------------------------------------------ codes
    def code_used(self, code_id: str) -> bool:
        row = self._db.execute("SELECT 1 FROM used_codes WHERE code_id = ?", (code_id,))
        return row.fetchone() is not None

    def picked_up_at(self, parcel: str) -> float | None:
        """When a consumer last collected `parcel` here (its newest used code), Unix
        seconds of the site's trusted clock, or None if it never was."""
        row = self._db.execute("SELECT MAX(at) FROM used_codes WHERE parcel = ?", (parcel,))
        found = row.fetchone()[0]
        return None if found is None else float(found)

    def use_code(self, code_id: str, parcel: str, now: float) -> None:
        self._db.execute(
            "INSERT INTO used_codes (code_id, parcel, at) VALUES (?, ?, ?)", (code_id, parcel, now)
        )

    def code_revoked(self, code_id: str) -> bool:
        row = self._db.execute("SELECT 1 FROM revoked_codes WHERE code_id = ?", (code_id,))
        return row.fetchone() is not None

    def revoke_code(self, code_id: str, parcel: str, now: float) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO revoked_codes (code_id, parcel, at) VALUES (?, ?, ?)",
            (code_id, parcel, now),
        )

    def badge_revoked(self, badge_id: str) -> bool:
        row = self._db.execute("SELECT 1 FROM revoked_badges WHERE badge_id = ?", (badge_id,))
        return row.fetchone() is not None

    def revoke_badge(self, badge_id: str, until: float, now: float) -> None:
        """Refuse `badge_id` until `until` (Unix seconds); a repeat keeps the later until."""
        self._db.execute(
            "INSERT INTO revoked_badges (badge_id, until, at) VALUES (?, ?, ?)"
            " ON CONFLICT (badge_id) DO UPDATE SET until = MAX(until, excluded.until)",
            (badge_id, until, now),
        )

    # --------------------------------------------------------------------------- commands
    def remember_command(self, nonce: str, command_id: str, expires_at: float) -> bool:
        """Record a command's nonce; False if it was seen before (a replay)."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO seen_commands (nonce, command_id, expires_at) VALUES (?, ?, ?)",
            (nonce, command_id, expires_at),
        )
        return cursor.rowcount == 1

    def forget_commands_before(self, now: float) -> None:
        # An expired command is refused for its expiry anyway: its nonce need not be kept.
        self._db.execute("DELETE FROM seen_commands WHERE expires_at < ?", (now,))

    # ------------------------------------------------------------------------------ shelf
    def shelved(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM shelf").fetchone()[0])

    def on_shelf(self, parcel: str) -> bool:
        return (
            self._db.execute("SELECT 1 FROM shelf WHERE parcel = ?", (parcel,)).fetchone()
            is not None
        )

    def shelve(self, parcel: str, courier: str, now: float) -> None:
        self._db.execute(
            "INSERT INTO shelf (parcel, courier, at) VALUES (?, ?, ?)", (parcel, courier, now)
        )

    def unshelve(self, parcel: str) -> None:
        self._db.execute("DELETE FROM shelf WHERE parcel = ?", (parcel,))

    # ----------------------------------------------------------------------------- outbox
    def emit(self, payload: EventPayload, now: float) -> Event:
        """Append an event to the outbox with the site's next sequence number."""
        cursor = self._db.execute(
            "INSERT INTO outbox (message, created_at) VALUES (x'', ?)", (now,)
        )
        seq = cursor.lastrowid
        assert seq is not None
        event = Event(
            site=self._site,
            seq=seq,
            id=uuid.uuid4().hex,
            at=now,
            payload=payload,
            epoch=self._epoch,
        )
        self._db.execute("UPDATE outbox SET message = ? WHERE seq = ?", (encode(event), seq))
        return event


class Store:
    """One site's SQLite file. Not shared between threads: the agent's loop owns it."""

    def __init__(self, path: Path, site: str, durable: bool = True) -> None:
        self.path = Path(path)
        self.site = site
        # One owner per site: the lock first, before SQLite touches the file (raises SiteOwned).
        self._lock = SiteLock.acquire(self.path.parent, site)
        # The last write that failed (StoreUnavailable's text), None once a write succeeds.
        self.failure: str | None = None
        self.write_failures = 0
        try:
            self._open(durable)
        except BaseException:
            self._lock.release()
            raise

    def _open(self, durable: bool) -> None:
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_S)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode = WAL")
            # FULL: every commit fsyncs the WAL, so a power cut loses no committed event.
            # NORMAL (the simulator's thousands of sites) survives a process crash only.
            self._synchronous = "FULL" if durable else "NORMAL"
            self._db.execute(f"PRAGMA synchronous = {self._synchronous}")
            self._db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
            self._db.execute("PRAGMA wal_autocheckpoint = 0")  # checkpoint_if_due instead
            self.commits_since_checkpoint = 0
            self._db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
            # None only while the store opens; then the epoch of every event it emits.
            self.epoch: str | None = None
            self.epoch = self._epoch()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: cannot open the site store: {exc}") from exc

    def _migrate(self) -> None:
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version > len(SCHEMA):
            raise StoreError(
                f"{self.path} has schema {version}, newer than this agent's {len(SCHEMA)}"
            )
        for number, script in enumerate(SCHEMA[version:], start=version + 1):
            self._db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")

    def _epoch(self) -> str:
        """The stream's identity, created with the store: a store lost, replaced or restored
        from an older copy without it starts a new stream that central can tell apart."""
        epoch = self.get_meta(EPOCH_KEY)
        if epoch is None:
            epoch = secrets.token_hex(EPOCH_BYTES)
            self.set_meta(EPOCH_KEY, epoch)
        return epoch

    def close(self) -> None:
        self._db.close()
        self._lock.release()

    # ------------------------------------------------------------------------------- meta
    def get_meta(self, key: str) -> str | None:
        """One fact about the store (`meta` table), or None if it was never written."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Write one fact about the store, durably (its own transaction)."""
        with self.transaction():
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One atomic, durable unit of work: all of it is on disk at exit, or none of it.

        Raises StoreUnavailable when the medium refuses (disk full, I/O error, locked past
        BUSY_TIMEOUT_S): then none of it was kept, and `failure` says why until a later
        transaction succeeds.
        """
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            if not _is_medium_error(exc):
                raise
            raise self._failed(exc) from exc
        try:
            yield Transaction(self._db, self.site, self.epoch)
            self._db.execute("COMMIT")
        except BaseException as exc:
            self._rollback()
            if isinstance(exc, sqlite3.Error) and _is_medium_error(exc):
                raise self._failed(exc) from exc
            raise
        self.failure = None
        self.commits_since_checkpoint += 1

    @contextmanager
    def _unsynced(self) -> Iterator[None]:
        """Commits inside are not fsynced (synchronous=NORMAL in WAL mode: atomic, and on the
        disk with the next durable commit's fsync or checkpoint). Only for what may be lost
        to a power cut without harm; FULL again at exit, whatever happens inside."""
        if self._synchronous == "NORMAL":
            yield
            return
        self._db.execute("PRAGMA synchronous = NORMAL")
        try:
            yield
        finally:
            self._db.execute(f"PRAGMA synchronous = {self._synchronous}")

    def checkpoint_if_due(self, every: int = CHECKPOINT_EVERY_COMMITS) -> bool:
        """Copy the WAL back into the database file once `every` commits have gone into it
        since the last time (the timers call this; see CHECKPOINT_EVERY_COMMITS). Passive: it
        waits for no reader or writer. True if it ran. Raises StoreUnavailable if the
        medium refuses (the WAL keeps everything; it is tried again at the next tick)."""
        if self.commits_since_checkpoint < every:
            return False
        try:
            self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:
            if not _is_medium_error(exc):
                raise
            raise self._failed(exc) from exc
        self.commits_since_checkpoint = 0
        return True

    def _rollback(self) -> None:
        # SQLite may have ended the transaction already (SQLITE_FULL and SQLITE_IOERR can);
        # on a failing medium ROLLBACK itself may fail: the transaction is abandoned either
        # way, and SQLite undoes a torn one from its journal when the file is next opened.
        if self._db.in_transaction:
            with contextlib.suppress(sqlite3.OperationalError):
                self._db.execute("ROLLBACK")

    def _failed(self, exc: sqlite3.Error) -> StoreUnavailable:
        code = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
        error = StoreUnavailable(self.path, code, str(exc))
        self.failure = str(error)
        self.write_failures += 1
        return error

    def read(self) -> Transaction:
        """Reads outside a transaction (each statement sees committed data)."""
        return Transaction(self._db, self.site, self.epoch)

    def ensure_slots(self, slots: list[tuple[str, SizeClass]], now: float) -> None:
        """Create the configured slots that the store does not know yet, as free."""
        with self.transaction():
            for slot_id, size in slots:
                self._db.execute(
                    "INSERT OR IGNORE INTO slots (id, size, state, updated_at) VALUES (?, ?, ?, ?)",
                    (slot_id, size.value, SlotState.FREE.value, now),
                )
                self._db.execute("UPDATE slots SET size = ? WHERE id = ?", (size.value, slot_id))

    # ----------------------------------------------------------------------------- outbox
    def pending(self, after: int = 0, limit: int = 100) -> list[OutboxRow]:
        rows = self._db.execute(
            "SELECT seq, message FROM outbox WHERE acked_at IS NULL AND seq > ? ORDER BY seq"
            " LIMIT ?",
            (after, limit),
        )
        return [OutboxRow(r["seq"], bytes(r["message"])) for r in rows]

    def pending_count(self) -> int:
        return int(
            self._db.execute("SELECT COUNT(*) FROM outbox WHERE acked_at IS NULL").fetchone()[0]
        )

    def acknowledge(self, seqs: list[int], now: float) -> None:
        """The broker has these events: they leave the outbox (kept a while for resends).

        Not fsynced (`_unsynced`): an acknowledgement comes with every event, and its fsync
        held the agent's loop (and a scan behind it) for a disk's flush. One lost to a power
        cut sends its event again, which central deduplicates by (site, seq)."""
        if not seqs:
            return
        with self._unsynced(), self.transaction():
            self._db.executemany(
                "UPDATE outbox SET acked_at = ? WHERE seq = ? AND acked_at IS NULL",
                [(now, s) for s in seqs],
            )

    def requeue_from(self, seq: int) -> int:
        """Central asked for events from `seq` again: put them back in the outbox."""
        with self.transaction():
            cursor = self._db.execute("UPDATE outbox SET acked_at = NULL WHERE seq >= ?", (seq,))
        return cursor.rowcount

    def prune(self, before: float) -> None:
        with self.transaction():
            # Keep the newest row whatever its age: AUTOINCREMENT never reuses a seq anyway.
            self._db.execute(
                "DELETE FROM outbox WHERE acked_at IS NOT NULL AND acked_at < ?"
                " AND seq < (SELECT MAX(seq) FROM outbox)",
                (before,),
            )
            self._db.execute("DELETE FROM seen_commands WHERE expires_at < ?", (before,))
            # A badge past its valid_until is refused as expired: its revocation may go.
            self._db.execute("DELETE FROM revoked_badges WHERE until < ?", (before,))

    def latest_record_time(self) -> float | None:
        """The newest event's time in the outbox (Unix seconds), or None if it has none:
        evidence of the time for a store that predates the saved witnessed time."""
        row = self._db.execute("SELECT MAX(created_at) FROM outbox").fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def last_seq(self) -> int:
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        return 0 if row is None else int(row[0])

    def cap_pages(self, pages: int | None) -> int:
        """Cap the store file at `pages` database pages, or lift the cap (None): a write
        that needs a page beyond it fails with SQLITE_FULL, as on a full card. SQLite never
        sets it below the file's current size. Returns the cap now in force. (The
        simulator's full disk; an operator's size quota.)"""
        cap = NO_PAGE_CAP if pages is None else max(1, int(pages))
        return int(self._db.execute(f"PRAGMA max_page_count = {cap}").fetchone()[0])

    def page_count(self) -> int:
        return int(self._db.execute("PRAGMA page_count").fetchone()[0])

    def size_bytes(self) -> int:
        total = 0
        for suffix in ("", "-wal", "-shm"):
            path = Path(str(self.path) + suffix)
            if path.exists():
                total += path.stat().st_size
        return total

    def health(self) -> dict[str, object]:
        """The store as the technician's report shows it: bytes on the card, events the
        broker has not acknowledged, the newest seq, and failed writes (the last one's why)."""
        return {
            "bytes": self.size_bytes(),
            "pending_events": self.pending_count(),
            "last_seq": self.last_seq(),
            "write_failures": self.write_failures,
            "failure": self.failure,
        }

    # --------------------------------------------------------- for readers outside the agent
    def event_ids(self) -> list[str]:
        """The id of every event still in the outbox (sent or not, until pruned), oldest
        first: what the site wrote, for a reader that must not touch the database (the
        simulator's verdict)."""
        rows = self._db.execute(
            "SELECT json_extract(CAST(message AS TEXT), '$.id') FROM outbox ORDER BY seq"
        )
        return [str(r[0]) for r in rows]

    def event_messages(self) -> list[bytes]:
        """Every event message still in the outbox (sent or not, until pruned), oldest first,
        as encoded on the wire (protocols.messages)."""
        rows = self._db.execute("SELECT message FROM outbox ORDER BY seq")
        return [bytes(r[0]) for r in rows]

    def expected_parcels(self) -> list[str]:
        """The labels of every parcel the site expects a courier to bring, sorted."""
        rows = self._db.execute("SELECT parcel FROM expected ORDER BY parcel")
        return [str(r[0]) for r in rows]
