"""SQLite schema, as numbered migrations. A store applies the ones it has not yet applied.

Never edit a migration that has shipped: add the next number. The schema version lives in
`PRAGMA user_version`, so a newer store is refused by an older build rather than misread.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "initial schema",
        (
            """CREATE TABLE sites (
                site TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                name TEXT,
                lat REAL,
                lon REAL,
                shelf_capacity INTEGER,
                shelf_used INTEGER,
                online INTEGER,
                status_at REAL,
                boot_id TEXT,
                agent_version TEXT,
                snapshot_at REAL,
                snapshot_seq INTEGER,
                faults_json TEXT NOT NULL DEFAULT '[]',
                compartments_json TEXT NOT NULL DEFAULT '{}'
            )""",
            """CREATE TABLE slots (
                site TEXT NOT NULL,
                slot TEXT NOT NULL,
                size TEXT NOT NULL,
                state TEXT NOT NULL,
                parcel TEXT,
                reserved_for TEXT,
                occupied INTEGER,
                door TEXT,
                updated_at REAL NOT NULL,
                PRIMARY KEY (site, slot)
            ) WITHOUT ROWID""",
            "CREATE INDEX slots_free ON slots (site, size) WHERE state = 'free'",
            """CREATE TABLE streams (
                site TEXT PRIMARY KEY,
                applied_seq INTEGER NOT NULL DEFAULT 0,
                max_received_seq INTEGER NOT NULL DEFAULT 0,
                gap_since REAL,
                resend_requested_at REAL,
                resend_count INTEGER NOT NULL DEFAULT 0,
                deposits INTEGER NOT NULL DEFAULT 0,
                pickups INTEGER NOT NULL DEFAULT 0,
                removals INTEGER NOT NULL DEFAULT 0,
                duplicates INTEGER NOT NULL DEFAULT 0,
                lost INTEGER NOT NULL DEFAULT 0
            )""",
            # (site, seq) is the dedupe key: a redelivered event can never be stored twice.
            """CREATE TABLE events (
                site TEXT NOT NULL,
                seq INTEGER NOT NULL,
                event_id TEXT NOT NULL,
                type TEXT NOT NULL,
                at REAL NOT NULL,
                payload TEXT NOT NULL,
                received_at REAL NOT NULL,
                applied_at REAL,
                PRIMARY KEY (site, seq)
            ) WITHOUT ROWID""",
            "CREATE INDEX events_waiting ON events (site, seq) WHERE applied_at IS NULL",
            """CREATE TABLE parcels (
                label TEXT PRIMARY KEY,
                state TEXT,
                size TEXT,
                weight_kg REAL,
                postal_code TEXT,
                lat REAL,
                lon REAL,
                delivery_mode TEXT,
                preferred_site TEXT,
                contact_json TEXT,
                site TEXT,
                slot TEXT,
                partner TEXT,
                courier TEXT,
                announced_at REAL,
                dispatched_at REAL,
                updated_at REAL NOT NULL,
                pickup_expires_at REAL
            )""",
            "CREATE INDEX parcels_state ON parcels (state)",
            """CREATE TABLE parcel_steps (
                id INTEGER PRIMARY KEY,
                label TEXT NOT NULL,
                step TEXT NOT NULL,
                before TEXT,
                after TEXT NOT NULL,
                at REAL NOT NULL,
                source TEXT NOT NULL,
                detail TEXT,
                recorded_at REAL NOT NULL
            )""",
            "CREATE INDEX parcel_steps_label ON parcel_steps (label, id)",
            """CREATE TABLE reservations (
                id INTEGER PRIMARY KEY,
                label TEXT NOT NULL,
                site TEXT NOT NULL,
                slot TEXT,
                size TEXT NOT NULL,
                created_at REAL NOT NULL,
                until REAL NOT NULL,
                status TEXT NOT NULL,
                command_id TEXT
            )""",
            # The structural guard against over-booking: one held reservation per slot and
            # per parcel, whatever process or thread tries to add a second.
            """CREATE UNIQUE INDEX reservations_one_per_slot ON reservations (site, slot)
                WHERE status = 'held' AND slot IS NOT NULL""",
            """CREATE UNIQUE INDEX reservations_one_per_parcel ON reservations (label)
                WHERE status = 'held'""",
            "CREATE INDEX reservations_site ON reservations (site) WHERE status = 'held'",
            """CREATE TABLE pickup_codes (
                code_id TEXT PRIMARY KEY,
                label TEXT NOT NULL,
                site TEXT NOT NULL,
                short_form TEXT NOT NULL,
                issued_at REAL NOT NULL,
                expires_at REAL NOT NULL,
                status TEXT NOT NULL
            )""",
            "CREATE INDEX pickup_codes_label ON pickup_codes (label)",
            """CREATE TABLE tasks (
                id INTEGER PRIMARY KEY,
                kind TEXT NOT NULL,
                label TEXT,
                site TEXT,
                payload TEXT NOT NULL,
                due_at REAL NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                last_error TEXT,
                claimed_by TEXT,
                claimed_until REAL,
                done_at REAL
            )""",
            "CREATE INDEX tasks_due ON tasks (due_at) WHERE done_at IS NULL",
            """CREATE TABLE commands (
                id TEXT PRIMARY KEY,
                site TEXT NOT NULL,
                type TEXT NOT NULL,
                issued_at REAL NOT NULL,
                expires_at REAL NOT NULL,
                body TEXT NOT NULL,
                reply_ok INTEGER,
                reply_reason TEXT,
                reply_at REAL,
                reply_detail TEXT
            )""",
            """CREATE TABLE alarms (
                id INTEGER PRIMARY KEY,
                site TEXT NOT NULL,
                kind TEXT NOT NULL,
                ref TEXT NOT NULL DEFAULT '',
                opened_at REAL NOT NULL,
                detail TEXT,
                source TEXT,
                cleared_at REAL,
                acked_at REAL,
                acked_by TEXT
            )""",
            # An alarm that is still open is raised once, however often its cause repeats.
            """CREATE UNIQUE INDEX alarms_one_open ON alarms (site, kind, ref)
                WHERE cleared_at IS NULL""",
            """CREATE TABLE removals (
                label TEXT NOT NULL,
                site TEXT NOT NULL,
                slot TEXT,
                reason TEXT NOT NULL,
                created_at REAL NOT NULL,
                done_at REAL,
                PRIMARY KEY (label, created_at)
            )""",
            "CREATE INDEX removals_open ON removals (site) WHERE done_at IS NULL",
        ),
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version
