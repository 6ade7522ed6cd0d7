"""The audit log: every door-moving or state-changing operator call (who, when, why)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from central.store.queries.base import Queries


@dataclass(frozen=True)
class AuditEntry:
    """One operator call and what came of it. `target` is the slot for a slot's calls;
    `outcome` "queued" (the command waits to be sent), "sent" (the site has not answered
    yet), "done" (the site did it, or central made the change itself), "refused" (central's
    guard) or "refused by site: REASON DETAIL"; `command_id` "task:N" (the task that sends
    it) until it is sent, then the command's id, which the site's reply names."""

    at: float
    actor: str
    role: str
    action: str
    reason: str
    outcome: str
    site: str | None = None
    target: str | None = None
    command_id: str | None = None
    id: int | None = None


class AuditQueries(Queries):
    """The SQL of the audit log."""

    def add_audit(self, entry: AuditEntry) -> int:
        """Append an entry; returns its id."""
        row = self._db.execute(
            """INSERT INTO audit_log
                (at, actor, role, action, site, target, reason, outcome, command_id)
                VALUES (?,?,?,?,?,?,?,?,?) RETURNING id""",
            (
                entry.at,
                entry.actor,
                entry.role,
                entry.action,
                entry.site,
                entry.target,
                entry.reason,
                entry.outcome,
                entry.command_id,
            ),
        ).fetchone()
        return int(row[0])

    def audit_entries(self, limit: int = 200, site: str | None = None) -> list[AuditEntry]:
        """The newest `limit` entries (of one site, if given), newest first."""
        query = f"SELECT {_AUDIT_COLUMNS} FROM audit_log"  # noqa: S608 - column names only
        params: tuple[Any, ...] = ()
        if site is not None:
            query += " WHERE site = ?"
            params = (site,)
        rows = self._db.execute(query + " ORDER BY at DESC, id DESC LIMIT ?", (*params, limit))
        return [_entry(r) for r in rows]

    def audit_count(
        self,
        site: str | None,
        actions: Sequence[str],
        outcome: str | None,
        since: float,
        excluding: str | None = None,
    ) -> int:
        """How many entries of `actions` with `outcome` (any, if None; not `excluding`, if
        given) the site (every site, if None) has had at `since` or later."""
        if not actions:
            return 0
        marks = ",".join("?" * len(actions))
        query = f"""SELECT count(*) FROM audit_log WHERE at >= ?
                AND action IN ({marks})"""  # noqa: S608 - placeholders only
        params: list[Any] = [since, *actions]
        if site is not None:
            query += " AND site = ?"
            params.append(site)
        if outcome is not None:
            query += " AND outcome = ?"
            params.append(outcome)
        if excluding is not None:
            query += " AND outcome <> ?"
            params.append(excluding)
        row = self._db.execute(query, tuple(params)).fetchone()
        return int(row[0])

    def audit_rename_command(self, old_id: str, new_id: str, outcome: str) -> int:
        """The entries naming command `old_id` (or "task:N", the task that sends it) name
        `new_id` instead, with `outcome`; returns how many."""
        cursor = self._db.execute(
            "UPDATE audit_log SET command_id = ?, outcome = ? WHERE command_id = ?",
            (new_id, outcome, old_id),
        )
        return int(cursor.rowcount)

    def audit_outcome(self, command_id: str, outcome: str) -> int:
        """The entries of the command `command_id` get `outcome` (the site's answer);
        returns how many."""
        cursor = self._db.execute(
            "UPDATE audit_log SET outcome = ? WHERE command_id = ?", (outcome, command_id)
        )
        return int(cursor.rowcount)


_AUDIT_COLUMNS = "id, at, actor, role, action, site, target, reason, outcome, command_id"


def _entry(row: Sequence[Any]) -> AuditEntry:
    return AuditEntry(
        id=row[0],
        at=row[1],
        actor=row[2],
        role=row[3],
        action=row[4],
        site=row[5],
        target=row[6],
        reason=row[7],
        outcome=row[8],
        command_id=row[9],
    )
