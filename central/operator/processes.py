"""`lockernet central status`: every central process on this store, alive or gone, and the
status central last retained on the broker.

Each process writes its row (central/service/timers.py) at start, on every tick and when it
stops in order; a row not written lately is a process that died without a word (killed, its
machine lost) or hangs.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.console import Group, RenderableType
from rich.text import Text

from central.operator.console import plain_text, table
from central.store import StoreView
from protocols.messages import CentralStatus

# A process is alive if it wrote its row within this many of its ticks, or this many
# seconds, whichever is longer (a tick can wait a moment for the store).
ALIVE_TICKS = 3
ALIVE_MIN_S = 10.0


class ProcessState(enum.StrEnum):
    ALIVE = "alive"
    STOPPED = "stopped"  # stopped in order (SIGTERM, systemd stop)
    GONE = "gone"  # silent past the limit without saying it stopped


@dataclass(frozen=True)
class ProcessLine:
    """One central process as the operator sees it (times are seconds since the epoch)."""

    process: str
    client_id: str
    host: str
    pid: int
    state: ProcessState
    started_at: float
    heard_at: float
    silent_s: float  # since its row was last written
    brokers: tuple[str, ...]
    received: int
    applied: int


def alive_within_s(tick_interval_s: float) -> float:
    """How recently a process must have written its row to be called alive."""
    return max(ALIVE_TICKS * tick_interval_s, ALIVE_MIN_S)


def process_lines(view: StoreView, now: float, tick_interval_s: float) -> list[ProcessLine]:
    """Every process that ran on the store, the most recently heard first. `now` is central's
    clock (seconds since the epoch); `tick_interval_s` is `service.tick_interval_s`."""
    limit = alive_within_s(tick_interval_s)
    lines = []
    for p in view.list_processes():
        silent = max(0.0, now - p.heard_at)
        if p.stopped_at is not None:
            state = ProcessState.STOPPED
        elif silent <= limit:
            state = ProcessState.ALIVE
        else:
            state = ProcessState.GONE
        lines.append(
            ProcessLine(
                process=p.process,
                client_id=p.client_id,
                host=p.host,
                pid=p.pid,
                state=state,
                started_at=p.started_at,
                heard_at=p.heard_at,
                silent_s=silent,
                brokers=p.brokers,
                received=p.received,
                applied=p.applied,
            )
        )
    return lines


def render_processes(
    lines: list[ProcessLine], retained: CentralStatus | None, broker_note: str | None = None
) -> RenderableType:
    """The processes as a table, then central's retained status (or why it is not shown)."""
    parts: list[RenderableType] = []
    if not lines:
        parts.append(Text("no central process has run on this store"))
    else:
        rows = table(
            "process",
            "state",
            "host",
            "pid",
            "started (UTC)",
            "last heard",
            "brokers",
            "received",
            "applied",
            numeric=("pid", "received", "applied"),
        )
        for line in lines:
            rows.add_row(
                line.process,
                line.state.value,
                line.host,
                str(line.pid),
                datetime.fromtimestamp(line.started_at, UTC).strftime("%Y-%m-%d %H:%M:%S"),
                f"{line.silent_s:.0f} s ago",
                ", ".join(line.brokers) or "-",
                str(line.received),
                str(line.applied),
            )
        parts.append(rows)
        alive = sum(1 for line in lines if line.state is ProcessState.ALIVE)
        parts.append(Text(f"{alive} of {len(lines)} process(es) alive"))
    if retained is not None:
        at = datetime.fromtimestamp(retained.at, UTC).strftime("%Y-%m-%d %H:%M:%S")
        says = "online" if retained.online else "offline"
        parts.append(Text(f"retained central status: {says} (boot {retained.boot_id}, {at} UTC)"))
    elif broker_note:
        parts.append(Text(f"retained central status: {broker_note}"))
    return Group(*parts)


def format_processes(
    lines: list[ProcessLine], retained: CentralStatus | None, broker_note: str | None = None
) -> str:
    """`render_processes` as plain text."""
    return plain_text(render_processes(lines, retained, broker_note))
