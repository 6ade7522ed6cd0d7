"""Console logins: operator, technician, viewer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from central.store.queries.base import Queries


@dataclass(frozen=True, repr=False)
class UserRecord:
    """One console login. `password_hash` is the scrypt form central/web/auth.py writes;
    the repr leaves it out so a log line cannot carry it."""

    name: str
    role: str  # central.web.auth.Role
    password_hash: str
    created_at: float
    disabled_at: float | None = None

    def __repr__(self) -> str:
        return f"UserRecord(name={self.name!r}, role={self.role!r}, disabled_at={self.disabled_at})"


class UserQueries(Queries):
    """The SQL of console logins: operator, technician, viewer."""

    def get_user(self, name: str) -> UserRecord | None:
        """The login called `name` (disabled or not), None if there is none."""
        row = self._db.execute(
            f"SELECT {_USER_COLUMNS} FROM operator_users WHERE name = ?",  # noqa: S608
            (name,),
        ).fetchone()
        return _user(row) if row else None

    def list_users(self) -> list[UserRecord]:
        """Every login, by name."""
        rows = self._db.execute(
            f"SELECT {_USER_COLUMNS} FROM operator_users ORDER BY name"  # noqa: S608
        )
        return [_user(r) for r in rows]

    def add_user(self, record: UserRecord) -> bool:
        """Add a login; False (nothing written) if the name is taken."""
        row = self._db.execute(
            """INSERT INTO operator_users (name, role, password_hash, created_at, disabled_at)
                VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING RETURNING name""",
            (
                record.name,
                record.role,
                record.password_hash,
                record.created_at,
                record.disabled_at,
            ),
        ).fetchone()
        return row is not None

    def disable_user(self, name: str, at: float) -> bool:
        """Disable a login (it can no longer sign in); False if unknown or already disabled."""
        cursor = self._db.execute(
            "UPDATE operator_users SET disabled_at = ? WHERE name = ? AND disabled_at IS NULL",
            (at, name),
        )
        return cursor.rowcount > 0


_USER_COLUMNS = "name, role, password_hash, created_at, disabled_at"


def _user(row: Sequence[Any]) -> UserRecord:
    return UserRecord(
        name=row[0], role=row[1], password_hash=row[2], created_at=row[3], disabled_at=row[4]
    )
