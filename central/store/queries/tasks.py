"""Central's durable work queue: due tasks, leased to one process at a time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from central.store.queries.base import Queries
from central.store.records import TaskKind, TaskRecord
from protocols.limits import fit_text


class TaskQueries(Queries):
    """Tasks: added, claimed under a lease, finished or retried."""

    def add_task(self, task: TaskRecord) -> int:
        row = self._db.execute(
            """INSERT INTO tasks (kind, label, site, payload, due_at, attempts, last_error)
                VALUES (?,?,?,?,?,?,?) RETURNING id""",
            (
                task.kind,
                task.label,
                task.site,
                task.payload,
                task.due_at,
                task.attempts,
                task.last_error,
            ),
        ).fetchone()
        return int(row[0])

    def add_tasks(self, tasks: Sequence[TaskRecord]) -> None:
        """Add several tasks at once (no ids returned: one round trip on a server store)."""
        if not tasks:
            return
        self._db.executemany(
            """INSERT INTO tasks (kind, label, site, payload, due_at, attempts, last_error)
                VALUES (?,?,?,?,?,?,?)""",
            [
                (t.kind, t.label, t.site, t.payload, t.due_at, t.attempts, t.last_error)
                for t in tasks
            ],
        )

    def claim_tasks(
        self, now: float, owner: str, lease_until: float, limit: int = 200
    ) -> list[TaskRecord]:
        """Take due tasks no live process holds; a lease lets another take over after a crash."""
        rows = self._db.execute(
            f"""UPDATE tasks SET claimed_by = ?, claimed_until = ?, attempts = attempts + 1
                WHERE id IN (SELECT id FROM tasks WHERE done_at IS NULL AND due_at <= ?
                    AND (claimed_until IS NULL OR claimed_until < ?) ORDER BY due_at LIMIT ?)
                RETURNING {TASK_COLUMNS}""",  # noqa: S608 - column names only
            (owner, lease_until, now, now, limit),
        ).fetchall()
        return sorted((task_from_row(r) for r in rows), key=lambda t: (t.due_at, t.id or 0))

    def finish_task(self, task_id: int, at: float) -> None:
        self._db.execute(
            "UPDATE tasks SET done_at = ?, claimed_by = NULL WHERE id = ?", (at, task_id)
        )

    def retry_task(self, task_id: int, due_at: float, error: str) -> None:
        self._db.execute(
            """UPDATE tasks SET due_at = ?, last_error = ?, claimed_by = NULL,
                claimed_until = NULL WHERE id = ?""",
            (due_at, fit_text(error), task_id),
        )

    def open_tasks(self, kind: str | None = None) -> list[TaskRecord]:
        query = f"SELECT {TASK_COLUMNS} FROM tasks WHERE done_at IS NULL"  # noqa: S608
        params: tuple[str, ...] = ()
        if kind is not None:
            query += " AND kind = ?"
            params = (kind,)
        return [task_from_row(r) for r in self._db.execute(query + " ORDER BY due_at, id", params)]


TASK_COLUMNS = "kind, due_at, label, site, payload, attempts, last_error, id"


def task_from_row(row: Sequence[Any]) -> TaskRecord:
    """A task from a row of TASK_COLUMNS (a store's own claim query returns those too).

    Raises ValueError for a kind this build does not know."""
    return TaskRecord(
        kind=TaskKind(row[0]),
        due_at=float(row[1]),  # SQLite's RETURNING gives a whole REAL as an int
        label=row[2],
        site=row[3],
        payload=row[4],
        attempts=row[5],
        last_error=row[6],
        id=row[7],
    )
