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
    Migration(
        2,
        "event streams keyed by the site's epoch: a lost, replaced or rolled-back site store "
        "starts a new stream instead of repeating seqs central takes for duplicates",
        (
            # One row per stream a site has had: its epoch (the site's store identity; ''
            # for an agent older than epochs) and, after a rewind of that epoch, one more row
            # for the same epoch from `base_seq` on. The site's current stream is the one row
            # not closed.
            """CREATE TABLE streams_by_epoch (
                id INTEGER PRIMARY KEY,
                site TEXT NOT NULL,
                epoch TEXT NOT NULL DEFAULT '',
                base_seq INTEGER NOT NULL DEFAULT 1,
                started_at REAL,
                closed_at REAL,
                cause TEXT NOT NULL DEFAULT 'first',
                reconciled INTEGER NOT NULL DEFAULT 1,
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
            """INSERT INTO streams_by_epoch (site, applied_seq, max_received_seq, gap_since,
                resend_requested_at, resend_count, deposits, pickups, removals, duplicates,
                lost) SELECT site, applied_seq, max_received_seq, gap_since,
                resend_requested_at, resend_count, deposits, pickups, removals, duplicates,
                lost FROM streams""",
            """INSERT INTO streams_by_epoch (site) SELECT DISTINCT site FROM events
                WHERE site NOT IN (SELECT site FROM streams)""",
            "DROP TABLE streams",
            "ALTER TABLE streams_by_epoch RENAME TO streams",
            "CREATE UNIQUE INDEX streams_current ON streams (site) WHERE closed_at IS NULL",
            "CREATE INDEX streams_epoch ON streams (site, epoch, base_seq)",
            # (stream, seq) orders a stream; the event's id is what tells a redelivery (the
            # same id) from a new event under a seq already used (a rewound store).
            """CREATE TABLE events_by_stream (
                stream INTEGER NOT NULL,
                seq INTEGER NOT NULL,
                site TEXT NOT NULL,
                event_id TEXT NOT NULL,
                type TEXT NOT NULL,
                at REAL NOT NULL,
                payload TEXT NOT NULL,
                received_at REAL NOT NULL,
                applied_at REAL,
                PRIMARY KEY (stream, seq)
            ) WITHOUT ROWID""",
            """INSERT INTO events_by_stream (stream, seq, site, event_id, type, at, payload,
                received_at, applied_at) SELECT s.id, e.seq, e.site, e.event_id, e.type, e.at,
                e.payload, e.received_at, e.applied_at FROM events e
                JOIN streams s ON s.site = e.site""",
            "DROP TABLE events",
            "ALTER TABLE events_by_stream RENAME TO events",
            "CREATE INDEX events_waiting ON events (stream, seq) WHERE applied_at IS NULL",
            "CREATE INDEX events_id ON events (site, event_id)",
        ),
    ),
    Migration(
        3,
        "site liveness: when central last heard each site, and its clock's offset",
        (
            # Apart from `sites`: written on every message a site sends, by every central
            # process, so it stays a narrow row. `stale` is 1 once the site was called
            # offline for silence (its alarm is open), 0 once heard again.
            """CREATE TABLE site_liveness (
                site TEXT PRIMARY KEY,
                heard_at REAL NOT NULL,
                beat_at REAL,
                beat_interval_s REAL,
                clock_offset_s REAL,
                stale INTEGER NOT NULL DEFAULT 0
            ) WITHOUT ROWID""",
        ),
    ),
    Migration(
        4,
        "when central last sent a site whose clock is off a signed time (sites/site_clock.py)",
        ("ALTER TABLE site_liveness ADD COLUMN time_sent_at REAL",),
    ),
    Migration(
        5,
        "several central processes and several brokers: each process's heartbeat, and the "
        "broker each site is heard on",
        (
            # One row per central process that ever ran on this store: what `lockernet central
            # status` shows. A process writes its own row every tick; a row not written for a
            # few ticks is a process that is gone (stopped_at says it stopped in order).
            """CREATE TABLE central_processes (
                process TEXT PRIMARY KEY,
                client_id TEXT NOT NULL,
                host TEXT NOT NULL,
                pid INTEGER NOT NULL,
                started_at REAL NOT NULL,
                heard_at REAL NOT NULL,
                stopped_at REAL,
                brokers TEXT NOT NULL DEFAULT '',
                received INTEGER NOT NULL DEFAULT 0,
                applied INTEGER NOT NULL DEFAULT 0
            )""",
            # The broker (its name in central.toml's [[brokers]]) a site was last heard on:
            # where central sends the site's commands.
            "ALTER TABLE sites ADD COLUMN broker TEXT",
        ),
    ),
    Migration(
        6,
        "operating the network: operator logins and the audit log, courier badges, partners "
        "and their API keys, webhooks and their deliveries, scan refusals by reason, the "
        "partner that announced each parcel",
        (
            # Console logins. The password is kept as a scrypt hash (hashlib), never in clear.
            """CREATE TABLE operator_users (
                name TEXT PRIMARY KEY,
                role TEXT NOT NULL,
                password_hash TEXT NOT NULL,
                created_at REAL NOT NULL,
                disabled_at REAL
            )""",
            # Every door-moving or state-changing call from an operator: who, when, why.
            """CREATE TABLE audit_log (
                id INTEGER PRIMARY KEY,
                at REAL NOT NULL,
                actor TEXT NOT NULL,
                role TEXT NOT NULL,
                action TEXT NOT NULL,
                site TEXT,
                target TEXT,
                reason TEXT NOT NULL,
                outcome TEXT NOT NULL,
                command_id TEXT
            )""",
            "CREATE INDEX audit_log_at ON audit_log (at)",
            # Courier badges central signed: a badge is verified offline at the site, so the
            # register is what lets an operator list and revoke them.
            """CREATE TABLE badges (
                badge_id TEXT PRIMARY KEY,
                courier TEXT NOT NULL,
                partner TEXT NOT NULL,
                valid_from REAL NOT NULL,
                valid_until REAL NOT NULL,
                issued_at REAL NOT NULL,
                issued_by TEXT NOT NULL,
                revoked_at REAL,
                revoked_by TEXT
            )""",
            "CREATE INDEX badges_courier ON badges (courier)",
            """CREATE TABLE partners (
                partner TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                created_at REAL NOT NULL
            )""",
            # A partner's API keys: the secret kept only as its SHA-256 (it is random, long).
            """CREATE TABLE partner_keys (
                key_id TEXT PRIMARY KEY,
                partner TEXT NOT NULL,
                secret_hash TEXT NOT NULL,
                scopes TEXT NOT NULL,
                created_at REAL NOT NULL,
                revoked_at REAL,
                last_used_at REAL
            )""",
            """CREATE TABLE webhook_endpoints (
                id INTEGER PRIMARY KEY,
                partner TEXT NOT NULL,
                url TEXT NOT NULL,
                secret TEXT NOT NULL,
                event_types TEXT NOT NULL DEFAULT '',
                created_at REAL NOT NULL,
                disabled_at REAL
            )""",
            # The webhooks' outbox: written in the transaction that records the parcel's step,
            # delivered (and retried) by central's timer; one row per endpoint and message.
            """CREATE TABLE webhook_deliveries (
                id INTEGER PRIMARY KEY,
                endpoint INTEGER NOT NULL,
                message_id TEXT NOT NULL,
                event_type TEXT NOT NULL,
                payload TEXT NOT NULL,
                created_at REAL NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_at REAL NOT NULL,
                delivered_at REAL,
                failed_at REAL,
                last_error TEXT,
                UNIQUE (endpoint, message_id)
            )""",
            """CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
                WHERE delivered_at IS NULL AND failed_at IS NULL""",
            # Refused scans by site and reason (the site's scan_refused events, counted).
            """CREATE TABLE scan_refusals (
                site TEXT NOT NULL,
                reason TEXT NOT NULL,
                count INTEGER NOT NULL DEFAULT 0,
                last_at REAL NOT NULL,
                last_detail TEXT,
                PRIMARY KEY (site, reason)
            )""",
            # The partner whose manifest announced the parcel (NULL: the operator's import).
            "ALTER TABLE parcels ADD COLUMN owner TEXT",
            "CREATE INDEX parcels_owner ON parcels (owner) WHERE owner IS NOT NULL",
        ),
    ),
    Migration(
        7,
        "the whole delivery promise: cross-border milestones, the 72-hour deadline, home "
        "delivery attempts and proofs, couriers' handheld tokens, consumers' returns, "
        "notifications by e-mail and SMS with opt-outs",
        (
            # A parcel's promise: its deadline (dispatch + the partner's or service's promise),
            # the furthest cross-border milestone reached, and where it stands against the
            # deadline (NULL: not yet judged; otherwise a SlaState value).
            "ALTER TABLE parcels ADD COLUMN service TEXT",
            "ALTER TABLE parcels ADD COLUMN deadline_at REAL",
            "ALTER TABLE parcels ADD COLUMN milestone TEXT",
            "ALTER TABLE parcels ADD COLUMN sla_state TEXT",
            # 'delivery' (NULL, the default) or 'return' (a consumer's return), and for a
            # return the label of the parcel it sends back.
            "ALTER TABLE parcels ADD COLUMN kind TEXT",
            "ALTER TABLE parcels ADD COLUMN return_of TEXT",
            "CREATE INDEX parcels_deadline ON parcels (deadline_at) WHERE deadline_at IS NOT NULL",
            # The promise's watch (central/parcels/promise.py): when the timer must next judge
            # the parcel (the moment it would turn at risk, or its deadline; NULL: settled or
            # not watched), and the milestone or state it was at when the promise broke.
            "ALTER TABLE parcels ADD COLUMN sla_check_at REAL",
            "ALTER TABLE parcels ADD COLUMN sla_cause TEXT",
            "CREATE INDEX parcels_sla_check ON parcels (sla_check_at) "
            "WHERE sla_check_at IS NOT NULL",
            # Parcels whose deadline is still to be set: a partial index stays as small as
            # the parcels announced since the timer last went round.
            "CREATE INDEX parcels_unstamped ON parcels (label) "
            "WHERE deadline_at IS NULL AND sla_state IS NULL",
            # Cross-border milestones, each once per parcel (the same milestone reported
            # twice is one), by their event time; attributed to who reported them.
            """CREATE TABLE parcel_milestones (
                label TEXT NOT NULL,
                milestone TEXT NOT NULL,
                at REAL NOT NULL,
                source TEXT NOT NULL,
                received_at REAL NOT NULL,
                location TEXT,
                detail TEXT,
                PRIMARY KEY (label, milestone)
            )""",
            # Home delivery: each attempt at the door, with its outcome and proof.
            """CREATE TABLE delivery_attempts (
                id INTEGER PRIMARY KEY,
                label TEXT NOT NULL,
                courier TEXT NOT NULL,
                at REAL NOT NULL,
                outcome TEXT NOT NULL,
                reason TEXT,
                proof_kind TEXT,
                proof_ref TEXT,
                attempt_key TEXT NOT NULL UNIQUE,
                source TEXT NOT NULL
            )""",
            "CREATE INDEX delivery_attempts_label ON delivery_attempts (label)",
            # The consumer's one-time code for a home delivery, issued when the parcel goes
            # out: only its hash is kept; the courier's handheld sends what the consumer says.
            """CREATE TABLE delivery_codes (
                label TEXT PRIMARY KEY,
                code_hash TEXT NOT NULL,
                courier TEXT NOT NULL,
                issued_at REAL NOT NULL,
                expires_at REAL NOT NULL
            )""",
            # A courier's handheld: a token per device, its secret kept only as a hash.
            """CREATE TABLE courier_tokens (
                token_id TEXT PRIMARY KEY,
                courier TEXT NOT NULL,
                partner TEXT NOT NULL,
                secret_hash TEXT NOT NULL,
                created_at REAL NOT NULL,
                revoked_at REAL
            )""",
            # A consumer's return label: signed like a pickup code (checked offline at the
            # site), bound to one site or any, used once.
            """CREATE TABLE return_labels (
                return_id TEXT PRIMARY KEY,
                label TEXT NOT NULL UNIQUE,
                return_of TEXT,
                partner TEXT NOT NULL,
                site TEXT,
                size TEXT NOT NULL,
                issued_at REAL NOT NULL,
                expires_at REAL NOT NULL,
                dropped_at REAL,
                dropped_site TEXT,
                dropped_slot TEXT,
                receipt TEXT
            )""",
            # Notifications to consumers: one row per (parcel, message, step, channel), so a
            # retried send or a replayed step never sends twice; held until `due_at` (the
            # morning, for one made at night).
            # qr_text: a pickup code's token, for the e-mail's QR image; cleared once the
            # message is sent or given up (a token opens a door).
            """CREATE TABLE notifications (
                id INTEGER PRIMARY KEY,
                label TEXT NOT NULL,
                message TEXT NOT NULL,
                step_key TEXT NOT NULL,
                channel TEXT NOT NULL,
                recipient TEXT NOT NULL,
                language TEXT NOT NULL,
                subject TEXT,
                body TEXT NOT NULL,
                qr_text TEXT,
                created_at REAL NOT NULL,
                due_at REAL NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                sent_at REAL,
                failed_at REAL,
                last_error TEXT,
                provider_ref TEXT,
                UNIQUE (label, message, step_key, channel)
            )""",
            """CREATE INDEX notifications_due ON notifications (due_at)
                WHERE sent_at IS NULL AND failed_at IS NULL""",
            # A consumer who asked for no more messages on a channel.
            """CREATE TABLE notification_opt_outs (
                channel TEXT NOT NULL,
                recipient TEXT NOT NULL,
                at REAL NOT NULL,
                PRIMARY KEY (channel, recipient)
            )""",
        ),
    ),
    Migration(
        8,
        "partners' label ranges: the S10 pairs and prefixes only a range's partner announces",
        (
            # A pattern ("EE*SG", "LP1234") belongs to one partner at most; that two
            # partners' patterns never overlap is checked when one is added
            # (central/partners/label_ranges.py).
            """CREATE TABLE partner_label_ranges (
                pattern TEXT PRIMARY KEY,
                partner TEXT NOT NULL,
                added_at REAL NOT NULL
            )""",
            "CREATE INDEX partner_label_ranges_partner ON partner_label_ranges (partner)",
        ),
    ),
)
# Numbers were handed out to parallel work (2: stream epochs, 3: liveness, 4: clock sends):
# apply in order of number whatever order the entries above were written in.
MIGRATIONS = tuple(sorted(MIGRATIONS, key=lambda m: m.version))

LATEST_VERSION = MIGRATIONS[-1].version
