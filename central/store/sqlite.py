"""The embedded store: one SQLite file in WAL mode, safe for several threads and processes.

Every write transaction starts with BEGIN IMMEDIATE, so writers are serialised by SQLite's
own lock across threads and processes: a read-check-write inside one transaction (the next
event of a site, the last free slot) cannot race another writer. Commits are fsynced
(synchronous=FULL) because a committed event is acknowledged to the broker right after, and
the broker then forgets it.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from central.errors import StoreConflict, StoreError
from central.store.base import CentralStore
from central.store.migrations import LATEST_VERSION, MIGRATIONS
from central.store.records import (
    AlarmRecord,
    CodeRecord,
    CommandRecord,
    LivenessRecord,
    ParcelRecord,
    RemovalRecord,
    ReservationRecord,
    SiteRecord,
    SlotRecord,
    StepRecord,
    StoredEvent,
    StreamCursor,
    TaskRecord,
)

# A writer waits this long for another process's transaction before giving up.
BUSY_TIMEOUT_MS = 30_000


def _bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


class SqliteSession:
    """Data access inside one transaction. All SQL of central lives in this class."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._db = conn

    # ------------------------------------------------------------------------ sites

    def get_site(self, site: str) -> SiteRecord | None:
        row = self._db.execute("SELECT * FROM sites WHERE site = ?", (site,)).fetchone()
        return _site(row) if row else None

    def list_sites(self) -> list[SiteRecord]:
        return [_site(r) for r in self._db.execute("SELECT * FROM sites ORDER BY site")]

    def save_site(self, record: SiteRecord) -> None:
        self._db.execute(
            """INSERT OR REPLACE INTO sites (site, kind, name, lat, lon, shelf_capacity,
                shelf_used, online, status_at, boot_id, agent_version, snapshot_at,
                snapshot_seq, faults_json, compartments_json)
                VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
            (
                record.site,
                record.kind,
                record.name,
                record.lat,
                record.lon,
                record.shelf_capacity,
                record.shelf_used,
                None if record.online is None else int(record.online),
                record.status_at,
                record.boot_id,
                record.agent_version,
                record.snapshot_at,
                record.snapshot_seq,
                record.faults_json,
                record.compartments_json,
            ),
        )

    def get_liveness(self, site: str) -> LivenessRecord | None:
        row = self._db.execute("SELECT * FROM site_liveness WHERE site = ?", (site,)).fetchone()
        return _liveness(row) if row else None

    def save_liveness(self, record: LivenessRecord) -> None:
        self._db.execute(
            """INSERT OR REPLACE INTO site_liveness (site, heard_at, beat_at, beat_interval_s,
                clock_offset_s, stale, time_sent_at) VALUES (?,?,?,?,?,?,?)""",
            (
                record.site,
                record.heard_at,
                record.beat_at,
                record.beat_interval_s,
                record.clock_offset_s,
                int(record.stale),
                record.time_sent_at,
            ),
        )

    def list_liveness(self) -> list[LivenessRecord]:
        rows = self._db.execute("SELECT * FROM site_liveness ORDER BY site")
        return [_liveness(r) for r in rows]

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

    # ------------------------------------------------------------------------ slots

    def list_slots(self, site: str) -> list[SlotRecord]:
        rows = self._db.execute("SELECT * FROM slots WHERE site = ? ORDER BY slot", (site,))
        return [_slot(r) for r in rows]

    def get_slot(self, site: str, slot: str) -> SlotRecord | None:
        row = self._db.execute(
            "SELECT * FROM slots WHERE site = ? AND slot = ?", (site, slot)
        ).fetchone()
        return _slot(row) if row else None

    def save_slot(self, record: SlotRecord) -> None:
        self._db.execute(
            """INSERT OR REPLACE INTO slots (site, slot, size, state, parcel, reserved_for,
                occupied, door, updated_at) VALUES (?,?,?,?,?,?,?,?,?)""",
            (
                record.site,
                record.slot,
                record.size,
                record.state,
                record.parcel,
                record.reserved_for,
                None if record.occupied is None else int(record.occupied),
                record.door,
                record.updated_at,
            ),
        )

    def replace_slots(self, site: str, slots: Iterable[SlotRecord]) -> None:
        self._db.execute("DELETE FROM slots WHERE site = ?", (site,))
        for record in slots:
            self.save_slot(record)

    def free_slots(self, site: str, size: str) -> list[str]:
        """Slots of `size` the site reports free and no held reservation has claimed."""
        rows = self._db.execute(
            """SELECT s.slot FROM slots s WHERE s.site = ? AND s.size = ? AND s.state = 'free'
                AND NOT EXISTS (SELECT 1 FROM reservations r WHERE r.site = s.site
                    AND r.slot = s.slot AND r.status = 'held')
                ORDER BY s.slot""",
            (site, size),
        )
        return [r[0] for r in rows]

    def free_slot_counts(self) -> list[tuple[str, str, int]]:
        """(site, size, free and unreserved slots) for every site with any."""
        rows = self._db.execute(
            """SELECT s.site, s.size, count(*) FROM slots s WHERE s.state = 'free'
                AND NOT EXISTS (SELECT 1 FROM reservations r WHERE r.site = s.site
                    AND r.slot = s.slot AND r.status = 'held')
                GROUP BY s.site, s.size"""
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def has_slots(self, site: str) -> bool:
        """Whether the site ever told central its slots (in a state snapshot)."""
        row = self._db.execute("SELECT 1 FROM slots WHERE site = ? LIMIT 1", (site,)).fetchone()
        return row is not None

    def held_count(self, site: str, size: str | None = None, unplaced: bool = False) -> int:
        """Held reservations at a site (of one size; only those no slot shows yet)."""
        query = "SELECT count(*) FROM reservations r WHERE r.site = ? AND r.status = 'held'"
        params: list[str] = [site]
        if size is not None:
            query += " AND r.size = ?"
            params.append(size)
        if unplaced:
            # Held without a slot named by central, and no slot of the site shows it yet.
            query += """ AND r.slot IS NULL AND NOT EXISTS (SELECT 1 FROM slots s
                WHERE s.site = r.site AND s.reserved_for = r.label)"""
        row = self._db.execute(query, params).fetchone()
        return int(row[0])

    def slot_state_counts(self) -> list[tuple[str, str, int]]:
        """(site, slot state, count) across the fleet."""
        rows = self._db.execute("SELECT site, state, count(*) FROM slots GROUP BY site, state")
        return [(r[0], r[1], r[2]) for r in rows]

    # ------------------------------------------------------------------- event streams

    def stream(self, site: str, epoch: str | None = None) -> StreamCursor:
        """The site's current stream (epoch None), or the newest stream of `epoch`; an unsaved
        cursor (id None) if there is none."""
        if epoch is None:
            row = self._db.execute(
                f"SELECT {_STREAM_COLUMNS} FROM streams WHERE site = ? AND closed_at IS NULL",  # noqa: S608
                (site,),
            ).fetchone()
            return _stream(row) if row else StreamCursor(site)
        row = self._db.execute(
            f"""SELECT {_STREAM_COLUMNS} FROM streams WHERE site = ? AND epoch = ?
                ORDER BY id DESC LIMIT 1""",  # noqa: S608
            (site, epoch),
        ).fetchone()
        return _stream(row) if row else StreamCursor(site, epoch=epoch)

    def save_stream(self, cursor: StreamCursor) -> StreamCursor:
        """Insert (id None) or update a stream; returns it with its id. A site has one current
        stream: close the old one (closed_at) before a new one is inserted."""
        values = (
            cursor.site,
            cursor.epoch,
            cursor.base_seq,
            cursor.started_at,
            cursor.closed_at,
            cursor.cause,
            int(cursor.reconciled),
            cursor.applied_seq,
            cursor.max_received_seq,
            cursor.gap_since,
            cursor.resend_requested_at,
            cursor.resend_count,
            cursor.deposits,
            cursor.pickups,
            cursor.removals,
            cursor.duplicates,
            cursor.lost,
        )
        if cursor.id is None:
            inserted = self._db.execute(
                f"INSERT INTO streams ({_STREAM_FIELDS}) VALUES ({','.join('?' * len(values))})",  # noqa: S608
                values,
            )
            return dataclasses.replace(cursor, id=inserted.lastrowid)
        assignments = ", ".join(f"{name} = ?" for name in _STREAM_FIELDS.split(", "))
        self._db.execute(
            f"UPDATE streams SET {assignments} WHERE id = ?",  # noqa: S608 - column names only
            (*values, cursor.id),
        )
        return cursor

    def list_streams(self) -> list[StreamCursor]:
        """Every stream of every site, by site and then oldest first (the current one last)."""
        rows = self._db.execute(f"SELECT {_STREAM_COLUMNS} FROM streams ORDER BY site, id")  # noqa: S608
        return [_stream(r) for r in rows]

    def streams_waiting_since(self, before: float) -> list[StreamCursor]:
        """Streams that have waited for a missing event since `before` or longer."""
        rows = self._db.execute(
            f"""SELECT {_STREAM_COLUMNS} FROM streams WHERE gap_since IS NOT NULL
                AND gap_since <= ? ORDER BY site, id""",  # noqa: S608
            (before,),
        )
        return [_stream(r) for r in rows]

    def add_events(self, events: Sequence[StoredEvent]) -> None:
        """Store received events; one already stored under its (stream, seq) is left as is."""
        self._db.executemany(
            f"INSERT OR IGNORE INTO events ({_EVENT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",  # noqa: S608
            [
                (
                    e.site,
                    e.seq,
                    e.event_id,
                    e.type,
                    e.at,
                    e.payload,
                    e.received_at,
                    e.applied_at,
                    e.stream,
                )
                for e in events
            ],
        )

    def waiting_events(self, stream: int, after_seq: int, limit: int = 10_000) -> list[StoredEvent]:
        """Received but not yet applied events of a stream, in sequence order."""
        rows = self._db.execute(
            f"""SELECT {_EVENT_COLUMNS} FROM events WHERE stream = ? AND seq > ?
                AND applied_at IS NULL ORDER BY seq LIMIT ?""",  # noqa: S608
            (stream, after_seq, limit),
        )
        return [_event(r) for r in rows]

    def mark_applied(self, stream: int, seqs: Iterable[int], at: float) -> None:
        self._db.executemany(
            "UPDATE events SET applied_at = ? WHERE stream = ? AND seq = ?",
            [(at, stream, seq) for seq in seqs],
        )

    def get_event(self, stream: int, seq: int) -> StoredEvent | None:
        row = self._db.execute(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE stream = ? AND seq = ?",  # noqa: S608
            (stream, seq),
        ).fetchone()
        return _event(row) if row else None

    def known_event_ids(self, site: str, ids: Iterable[str]) -> set[str]:
        """Those of `ids` central has stored for the site, in any of its streams."""
        wanted = list(dict.fromkeys(ids))
        found: set[str] = set()
        # SQLite's default limit on host parameters is 999 (32766 since 3.32): chunks stay under.
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            rows = self._db.execute(
                f"""SELECT event_id FROM events WHERE site = ?
                    AND event_id IN ({",".join("?" * len(chunk))})""",  # noqa: S608 - placeholders only
                (site, *chunk),
            )
            found.update(r[0] for r in rows)
        return found

    # ----------------------------------------------------------------------- parcels

    def get_parcel(self, label: str) -> ParcelRecord | None:
        row = self._db.execute("SELECT * FROM parcels WHERE label = ?", (label,)).fetchone()
        return _parcel(row) if row else None

    def save_parcel(self, record: ParcelRecord) -> None:
        self._db.execute(
            """INSERT OR REPLACE INTO parcels (label, state, size, weight_kg, postal_code, lat,
                lon, delivery_mode, preferred_site, contact_json, site, slot, partner, courier,
                announced_at, dispatched_at, updated_at, pickup_expires_at)
                VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
            (
                record.label,
                record.state,
                record.size,
                record.weight_kg,
                record.postal_code,
                record.lat,
                record.lon,
                record.delivery_mode,
                record.preferred_site,
                record.contact_json,
                record.site,
                record.slot,
                record.partner,
                record.courier,
                record.announced_at,
                record.dispatched_at,
                record.updated_at,
                record.pickup_expires_at,
            ),
        )

    def parcels_in_state(self, states: Iterable[str], limit: int = 100_000) -> list[ParcelRecord]:
        wanted = list(states)
        marks = ",".join("?" * len(wanted))
        rows = self._db.execute(
            f"SELECT * FROM parcels WHERE state IN ({marks}) ORDER BY label LIMIT ?",  # noqa: S608 - only placeholders are interpolated
            (*wanted, limit),
        )
        return [_parcel(r) for r in rows]

    def courier_loads(self, states: Iterable[str]) -> list[tuple[str, str, int]]:
        """(partner, courier, parcels) of parcels in `states` that have a courier."""
        wanted = list(states)
        marks = ",".join("?" * len(wanted))
        rows = self._db.execute(
            f"""SELECT partner, courier, count(*) FROM parcels WHERE state IN ({marks})
                AND courier IS NOT NULL AND partner IS NOT NULL GROUP BY partner, courier""",  # noqa: S608 - only placeholders are interpolated
            wanted,
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def parcel_state_counts(self) -> dict[str, int]:
        rows = self._db.execute("SELECT state, count(*) FROM parcels GROUP BY state")
        return {r[0] or "unknown": r[1] for r in rows}

    def add_step(self, step: StepRecord) -> None:
        self._db.execute(
            """INSERT INTO parcel_steps (label, step, before, after, at, source, detail,
                recorded_at) VALUES (?,?,?,?,?,?,?,?)""",
            (
                step.label,
                step.step,
                step.before,
                step.after,
                step.at,
                step.source,
                step.detail,
                step.recorded_at,
            ),
        )

    def steps(self, label: str) -> list[StepRecord]:
        rows = self._db.execute(
            """SELECT label, step, before, after, at, source, detail, recorded_at
                FROM parcel_steps WHERE label = ? ORDER BY id""",
            (label,),
        )
        return [StepRecord(*r) for r in rows]

    # ------------------------------------------------------------------ reservations

    def add_reservation(self, record: ReservationRecord) -> ReservationRecord:
        """Hold capacity. StoreConflict if the slot or the parcel already holds one."""
        try:
            cursor = self._db.execute(
                """INSERT INTO reservations (label, site, slot, size, created_at, until,
                    status, command_id) VALUES (?,?,?,?,?,?,?,?)""",
                (
                    record.label,
                    record.site,
                    record.slot,
                    record.size,
                    record.created_at,
                    record.until,
                    record.status,
                    record.command_id,
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise StoreConflict(
                f"cannot reserve {record.site}/{record.slot or 'shelf'} for {record.label}: {exc}"
            ) from None
        return _replace(record, id=cursor.lastrowid)

    def held_reservation(self, label: str) -> ReservationRecord | None:
        row = self._db.execute(
            "SELECT * FROM reservations WHERE label = ? AND status = 'held'", (label,)
        ).fetchone()
        return _reservation(row) if row else None

    def held_reservations(self, site: str | None = None) -> list[ReservationRecord]:
        if site is None:
            rows = self._db.execute("SELECT * FROM reservations WHERE status = 'held'")
        else:
            rows = self._db.execute(
                "SELECT * FROM reservations WHERE status = 'held' AND site = ?", (site,)
            )
        return [_reservation(r) for r in rows]

    def held_reservations_until(self, before: float) -> list[ReservationRecord]:
        rows = self._db.execute(
            "SELECT * FROM reservations WHERE status = 'held' AND until <= ? ORDER BY until",
            (before,),
        )
        return [_reservation(r) for r in rows]

    def set_reservation(self, reservation_id: int, status: str, command_id: str | None) -> None:
        self._db.execute(
            "UPDATE reservations SET status = ?, command_id = coalesce(?, command_id) WHERE id = ?",
            (status, command_id, reservation_id),
        )

    # ------------------------------------------------------------------ pickup codes

    def add_code(self, record: CodeRecord) -> None:
        self._db.execute(
            """INSERT INTO pickup_codes (code_id, label, site, short_form, issued_at,
                expires_at, status) VALUES (?,?,?,?,?,?,?)""",
            (
                record.code_id,
                record.label,
                record.site,
                record.short_form,
                record.issued_at,
                record.expires_at,
                record.status,
            ),
        )

    def codes(self, label: str) -> list[CodeRecord]:
        rows = self._db.execute(
            """SELECT code_id, label, site, short_form, issued_at, expires_at, status
                FROM pickup_codes WHERE label = ? ORDER BY issued_at""",
            (label,),
        )
        return [CodeRecord(*r) for r in rows]

    def set_code_status(self, code_id: str, status: str) -> None:
        self._db.execute("UPDATE pickup_codes SET status = ? WHERE code_id = ?", (status, code_id))

    # ------------------------------------------------------------------------- tasks

    def add_task(self, task: TaskRecord) -> int:
        cursor = self._db.execute(
            """INSERT INTO tasks (kind, label, site, payload, due_at, attempts, last_error)
                VALUES (?,?,?,?,?,?,?)""",
            (
                task.kind,
                task.label,
                task.site,
                task.payload,
                task.due_at,
                task.attempts,
                task.last_error,
            ),
        )
        return int(cursor.lastrowid or 0)

    def claim_tasks(
        self, now: float, owner: str, lease_until: float, limit: int = 200
    ) -> list[TaskRecord]:
        """Take due tasks no live process holds; a lease lets another take over after a crash."""
        rows = self._db.execute(
            """UPDATE tasks SET claimed_by = ?, claimed_until = ?, attempts = attempts + 1
                WHERE id IN (SELECT id FROM tasks WHERE done_at IS NULL AND due_at <= ?
                    AND (claimed_until IS NULL OR claimed_until < ?) ORDER BY due_at LIMIT ?)
                RETURNING kind, due_at, label, site, payload, attempts, last_error, id""",
            (owner, lease_until, now, now, limit),
        ).fetchall()
        return sorted((TaskRecord(*r) for r in rows), key=lambda t: (t.due_at, t.id or 0))

    def finish_task(self, task_id: int, at: float) -> None:
        self._db.execute(
            "UPDATE tasks SET done_at = ?, claimed_by = NULL WHERE id = ?", (at, task_id)
        )

    def retry_task(self, task_id: int, due_at: float, error: str) -> None:
        self._db.execute(
            """UPDATE tasks SET due_at = ?, last_error = ?, claimed_by = NULL,
                claimed_until = NULL WHERE id = ?""",
            (due_at, error[:500], task_id),
        )

    def open_tasks(self, kind: str | None = None) -> list[TaskRecord]:
        query = """SELECT kind, due_at, label, site, payload, attempts, last_error, id
            FROM tasks WHERE done_at IS NULL"""
        params: tuple[str, ...] = ()
        if kind is not None:
            query += " AND kind = ?"
            params = (kind,)
        return [TaskRecord(*r) for r in self._db.execute(query + " ORDER BY due_at", params)]

    # ---------------------------------------------------------------------- commands

    def add_command(self, record: CommandRecord) -> None:
        self._db.execute(
            """INSERT INTO commands (id, site, type, issued_at, expires_at, body)
                VALUES (?,?,?,?,?,?)""",
            (
                record.id,
                record.site,
                record.type,
                record.issued_at,
                record.expires_at,
                record.body,
            ),
        )

    def record_reply(
        self, command_id: str, ok: bool, reason: str | None, at: float, detail: str | None
    ) -> bool:
        """Store the first reply to a command; False if the command is unknown or answered."""
        cursor = self._db.execute(
            """UPDATE commands SET reply_ok = ?, reply_reason = ?, reply_at = ?,
                reply_detail = ? WHERE id = ? AND reply_at IS NULL""",
            (int(ok), reason, at, detail, command_id),
        )
        return cursor.rowcount > 0

    def get_command(self, command_id: str) -> CommandRecord | None:
        row = self._db.execute("SELECT * FROM commands WHERE id = ?", (command_id,)).fetchone()
        if row is None:
            return None
        return CommandRecord(
            row[0], row[1], row[2], row[3], row[4], row[5], _bool(row[6]), *row[7:]
        )

    def commands_to(self, site: str) -> list[CommandRecord]:
        rows = self._db.execute(
            "SELECT id FROM commands WHERE site = ? ORDER BY issued_at", (site,)
        )
        found = [self.get_command(r[0]) for r in rows.fetchall()]
        return [c for c in found if c is not None]

    # ------------------------------------------------------------------------ alarms

    def open_alarm(self, record: AlarmRecord) -> bool:
        """Raise an alarm; False if the same one (site, kind, ref) is already open."""
        cursor = self._db.execute(
            """INSERT OR IGNORE INTO alarms (site, kind, ref, opened_at, detail, source)
                VALUES (?,?,?,?,?,?)""",
            (record.site, record.kind, record.ref, record.opened_at, record.detail, record.source),
        )
        return cursor.rowcount > 0

    def clear_alarms(self, site: str, kind: str, ref: str | None, at: float) -> int:
        """Close open alarms of a kind at a site (one ref, or all refs when ref is None)."""
        if ref is None:
            cursor = self._db.execute(
                """UPDATE alarms SET cleared_at = ? WHERE site = ? AND kind = ?
                    AND cleared_at IS NULL""",
                (at, site, kind),
            )
        else:
            cursor = self._db.execute(
                """UPDATE alarms SET cleared_at = ? WHERE site = ? AND kind = ? AND ref = ?
                    AND cleared_at IS NULL""",
                (at, site, kind, ref),
            )
        return cursor.rowcount

    def list_alarms(self, include_cleared: bool = False) -> list[AlarmRecord]:
        query = "SELECT * FROM alarms"
        if not include_cleared:
            query += " WHERE cleared_at IS NULL"
        return [_alarm(r) for r in self._db.execute(query + " ORDER BY opened_at, id")]

    def get_alarm(self, alarm_id: int) -> AlarmRecord | None:
        row = self._db.execute("SELECT * FROM alarms WHERE id = ?", (alarm_id,)).fetchone()
        return _alarm(row) if row else None

    def ack_alarm(self, alarm_id: int, by: str, at: float, clear: bool) -> bool:
        """Acknowledge an alarm (and close it, if `clear`); False if unknown or acked."""
        cursor = self._db.execute(
            """UPDATE alarms SET acked_at = ?, acked_by = ?,
                cleared_at = CASE WHEN ? THEN coalesce(cleared_at, ?) ELSE cleared_at END
                WHERE id = ? AND acked_at IS NULL""",
            (at, by, int(clear), at, alarm_id),
        )
        return cursor.rowcount > 0

    # ---------------------------------------------------------------------- removals

    def add_removal(self, record: RemovalRecord) -> None:
        self._db.execute(
            """INSERT OR IGNORE INTO removals (label, site, slot, reason, created_at, done_at)
                VALUES (?,?,?,?,?,?)""",
            (
                record.label,
                record.site,
                record.slot,
                record.reason,
                record.created_at,
                record.done_at,
            ),
        )

    def finish_removals(self, label: str, at: float) -> int:
        cursor = self._db.execute(
            "UPDATE removals SET done_at = ? WHERE label = ? AND done_at IS NULL", (at, label)
        )
        return cursor.rowcount

    def open_removals(self, site: str | None = None) -> list[RemovalRecord]:
        query = "SELECT label, site, reason, created_at, slot, done_at FROM removals "
        query += "WHERE done_at IS NULL"
        params: tuple[str, ...] = ()
        if site is not None:
            query += " AND site = ?"
            params = (site,)
        return [RemovalRecord(*r) for r in self._db.execute(query + " ORDER BY created_at", params)]


class SqliteStore:
    """A SQLite file shared by threads (one connection each) and processes."""

    errors: tuple[type[Exception], ...] = (sqlite3.Error, StoreError)

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._turns = WriterTurns()
        self._migrate(self._connection())

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=0
            )
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            # Acknowledged to the broker right after commit: the commit must survive power loss.
            conn.execute("PRAGMA synchronous = FULL")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > LATEST_VERSION:
                raise StoreError(
                    f"store {self.path} has schema version {version}, newer than this build's "
                    f"{LATEST_VERSION}: upgrade lockernet central"
                )
            for migration in MIGRATIONS:
                if migration.version > version:
                    for statement in migration.statements:
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {migration.version}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @property
    def schema_version(self) -> int:
        return int(self._connection().execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def transaction(self) -> Iterator[SqliteSession]:
        """One atomic unit of work: committed on normal exit, rolled back on any error."""
        conn = self._connection()
        with self._turns:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield SqliteSession(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()


class WriterTurns:
    """This process's writers take the write lock in the order they asked for it.

    SQLite's lock is not fair: a waiting writer sleeps and retries (up to 100 ms apart), and
    a thread that commits and begins again at once wins every time. Placing a large wave in
    chunks kept the ingest thread out for its whole 30 s busy timeout. Writers in other
    processes still meet SQLite's busy timeout.
    """

    def __init__(self, timeout_s: float = BUSY_TIMEOUT_MS / 1000) -> None:
        self._changed = threading.Condition()
        self._waiting: deque[object] = deque()
        self._holder: int | None = None
        self._timeout_s = timeout_s

    def __enter__(self) -> None:
        me = threading.get_ident()
        with self._changed:
            if self._holder == me:
                raise StoreError("a store transaction cannot begin inside another")
            turn = object()
            self._waiting.append(turn)
            try:
                ready = self._changed.wait_for(
                    lambda: self._holder is None and self._waiting[0] is turn, self._timeout_s
                )
            except BaseException:
                ready = False  # interrupted: give the turn up below, then re-raise
                raise
            finally:
                if not ready:
                    self._waiting.remove(turn)
                    self._changed.notify_all()
            if not ready:
                # As SQLite's own busy timeout would say it: the callers already retry this.
                raise sqlite3.OperationalError(
                    f"database is locked: no turn to write within {self._timeout_s:.0f}s"
                )
            self._waiting.popleft()
            self._holder = me

    def __exit__(self, *exc: object) -> None:
        with self._changed:
            self._holder = None
            self._changed.notify_all()


# ---------------------------------------------------------------------- row mapping


def _replace(record: ReservationRecord, id: int | None) -> ReservationRecord:
    return dataclasses.replace(record, id=id)


def _site(row: Sequence[Any]) -> SiteRecord:
    return SiteRecord(
        site=row[0],
        kind=row[1],
        name=row[2],
        lat=row[3],
        lon=row[4],
        shelf_capacity=row[5],
        shelf_used=row[6],
        online=_bool(row[7]),
        status_at=row[8],
        boot_id=row[9],
        agent_version=row[10],
        snapshot_at=row[11],
        snapshot_seq=row[12],
        faults_json=row[13],
        compartments_json=row[14],
    )


def _liveness(row: Sequence[Any]) -> LivenessRecord:
    return LivenessRecord(row[0], row[1], row[2], row[3], row[4], bool(row[5]), row[6])


def _slot(row: Sequence[Any]) -> SlotRecord:
    return SlotRecord(row[0], row[1], row[2], row[3], row[4], row[5], _bool(row[6]), row[7], row[8])


_STREAM_FIELDS = (
    "site, epoch, base_seq, started_at, closed_at, cause, reconciled, applied_seq, "
    "max_received_seq, gap_since, resend_requested_at, resend_count, deposits, pickups, "
    "removals, duplicates, lost"
)
_STREAM_COLUMNS = "id, " + _STREAM_FIELDS
_EVENT_COLUMNS = "site, seq, event_id, type, at, payload, received_at, applied_at, stream"


def _stream(row: Sequence[Any]) -> StreamCursor:
    return StreamCursor(
        id=row[0],
        site=row[1],
        epoch=row[2],
        base_seq=row[3],
        started_at=row[4],
        closed_at=row[5],
        cause=row[6],
        reconciled=bool(row[7]),
        applied_seq=row[8],
        max_received_seq=row[9],
        gap_since=row[10],
        resend_requested_at=row[11],
        resend_count=row[12],
        deposits=row[13],
        pickups=row[14],
        removals=row[15],
        duplicates=row[16],
        lost=row[17],
    )


def _event(row: Sequence[Any]) -> StoredEvent:
    return StoredEvent(*row)


def _parcel(row: Sequence[Any]) -> ParcelRecord:
    return ParcelRecord(*row)


def _reservation(row: Sequence[Any]) -> ReservationRecord:
    return ReservationRecord(
        label=row[1],
        site=row[2],
        slot=row[3],
        size=row[4],
        created_at=row[5],
        until=row[6],
        status=row[7],
        command_id=row[8],
        id=row[0],
    )


def _alarm(row: Sequence[Any]) -> AlarmRecord:
    return AlarmRecord(
        id=row[0],
        site=row[1],
        kind=row[2],
        ref=row[3],
        opened_at=row[4],
        detail=row[5],
        source=row[6],
        cleared_at=row[7],
        acked_at=row[8],
        acked_by=row[9],
    )


def _conforms(store: SqliteStore) -> CentralStore:
    """Never called: makes mypy prove SqliteStore fills the CentralStore interface."""
    return store
