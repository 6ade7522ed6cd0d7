"""Central's own processes: each writes its row at start, on every tick and at a clean stop."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from central.store.queries.base import Queries, upsert
from central.store.records import ProcessRecord

_COLUMNS = (
    "process, client_id, host, pid, started_at, heard_at, stopped_at, brokers, received, applied"
)


class ProcessQueries(Queries):
    """Rows of `central_processes` (migration 5)."""

    def save_process(self, record: ProcessRecord) -> None:
        """Insert or update the process's row (brokers stored comma-separated)."""
        self._db.execute(
            upsert("central_processes", _COLUMNS, ("process",)),
            (
                record.process,
                record.client_id,
                record.host,
                record.pid,
                record.started_at,
                record.heard_at,
                record.stopped_at,
                ",".join(record.brokers),
                record.received,
                record.applied,
            ),
        )

    def list_processes(self) -> list[ProcessRecord]:
        """Every process that ever ran on this store, the most recently heard first."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM central_processes ORDER BY heard_at DESC, process"  # noqa: S608 - column names only
        )
        return [_process(r) for r in rows]


def _process(row: Sequence[Any]) -> ProcessRecord:
    return ProcessRecord(
        process=row[0],
        client_id=row[1],
        host=row[2],
        pid=int(row[3]),
        started_at=float(row[4]),
        heard_at=float(row[5]),
        stopped_at=None if row[6] is None else float(row[6]),
        brokers=tuple(b for b in str(row[7]).split(",") if b),
        received=int(row[8]),
        applied=int(row[9]),
    )
