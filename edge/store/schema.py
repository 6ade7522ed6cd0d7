"""The site store's schema, as the steps that built it: step N brings a store from
`PRAGMA user_version` N-1 to N (edge/store/sqlite.py runs the steps a store has not had)."""

from __future__ import annotations

from edge.store.returns import RETURN_DROPS_SCHEMA

SCHEMA: list[str] = [
    # 1: the first schema
    """
    CREATE TABLE slots (
        id TEXT PRIMARY KEY,
        size TEXT NOT NULL,
        state TEXT NOT NULL,
        parcel TEXT,
        reserved_for TEXT,
        opened_at REAL,
        opened_by TEXT,
        open_ref TEXT,
        updated_at REAL NOT NULL
    );
    CREATE TABLE expected (
        parcel TEXT PRIMARY KEY,
        size TEXT NOT NULL,
        slot TEXT,
        until REAL NOT NULL
    );
    CREATE TABLE removals (parcel TEXT PRIMARY KEY, reason TEXT NOT NULL, at REAL NOT NULL);
    CREATE TABLE used_codes (code_id TEXT PRIMARY KEY, parcel TEXT NOT NULL, at REAL NOT NULL);
    CREATE TABLE revoked_codes (code_id TEXT PRIMARY KEY, parcel TEXT NOT NULL, at REAL NOT NULL);
    CREATE TABLE seen_commands (nonce TEXT PRIMARY KEY, command_id TEXT, expires_at REAL);
    CREATE TABLE shelf (parcel TEXT PRIMARY KEY, courier TEXT, at REAL NOT NULL);
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        message BLOB NOT NULL,
        created_at REAL NOT NULL,
        acked_at REAL
    );
    CREATE INDEX outbox_pending ON outbox (seq) WHERE acked_at IS NULL;
    """,
    # 2: the timers look for lapsed reservations every second; without an index that is a
    # scan of every parcel the site expects
    """
    CREATE INDEX expected_until ON expected (until);
    """,
    # 3: facts about the store itself, one row each: the stream's epoch (created with the
    # store, so a lost or replaced store starts a new stream central can tell apart) and the
    # latest time the site has witnessed (a floor under a clock that booted at 1970)
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    # 4: when a door's release was confirmed by its board, so an agent restarted after a
    # crash can tell a door that was released from an intent whose unlock may never have
    # left (edge/site/crash_recovery.py)
    """
    ALTER TABLE slots ADD COLUMN released_at REAL;
    """,
    # 5: courier badges central revoked, each until its valid_until: a badge is verified
    # offline, so the site must remember the revocation (it may be offline when next scanned)
    """
    CREATE TABLE revoked_badges (badge_id TEXT PRIMARY KEY, until REAL NOT NULL, at REAL NOT NULL);
    """,
    # 6: consumers' return labels scanned here, each used once (edge/store/returns.py)
    RETURN_DROPS_SCHEMA,
]
