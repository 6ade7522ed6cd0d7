"""A site's diagnostic report as a person reads it: one screen, whatever the site's size.

The report is the dict a site agent makes (edge/host/diagnostics.py) for `lockernet edge
diag` on the device and for central's RunDiagnostics (`lockernet diag SITE`); both print this
summary by default and the report itself with --json. The summary shows the site, its agent
version and clock (in the network's local time), the link, the store and its outbox, the
boards with their health, the serial bus and scanner, the slots as counts by state and one
grid line per board, then only the slots and faults that need a technician.

A report from an older or newer agent may lack a part or hold another shape: each part is
read defensively and shown as "?" rather than failing the summary.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from protocols.localtime import timestamp

# A summary shows at most this many problem slots and faults, then says how many more:
# a whole dead board would otherwise push everything else off the screen.
MAX_LISTED = 12
LABEL_WIDTH = 10
# One character per slot in the grid, by state (hardware-independent: the site's record).
GRID_MARKS = {
    "free": ".",
    "reserved": "r",
    "occupied": "o",
    "open_for_deposit": "D",
    "open_for_pickup": "P",
    "open_for_removal": "R",
    "out_of_service": "S",
    "fault": "F",
}
DISAGREES_MARK = "!"  # the sensor says otherwise than the record
UNREAD_MARK = " "  # no slot on that lock
GRID_LEGEND = (
    ". free  r reserved  o occupied  D/P/R open (deposit/pickup/removal)  "
    "S out of service  F fault  ! sensor disagrees"
)
COUNT_NAMES = {"re_reads": "re-reads"}
# The bus adapter's echo as the driver found it (None: not probed yet).
ECHO = {True: "adapter echoes", False: "no echo", None: "echo not known yet"}
ATTENTION_STATES = frozenset(("fault", "out_of_service"))
OPEN_STATES = frozenset(("open_for_deposit", "open_for_pickup", "open_for_removal"))


def looks_like_site_report(value: Any) -> bool:
    """True if `value` has the shape of a site agent's report (site, boards, slots)."""
    return isinstance(value, Mapping) and {"site", "boards", "slots"} <= set(value)


def summary(report: Mapping[str, Any]) -> str:
    """The readable summary of a site's report (about 15 lines plus one a board, a problem
    slot and a fault; at most MAX_LISTED of each)."""
    lines = [_header(report)]
    lines.append(_row("clock", _clock(report.get("at"))))
    lines.append(_row("link", _link(_dict(report.get("link")))))
    lines.append(_row("store", _store(_dict(report.get("store")))))
    lines.append(_row("tasks", _tasks(_dict(report.get("tasks")))))
    boards = [b for b in _list(report.get("boards")) if isinstance(b, Mapping)]
    if boards or report.get("kind") != "counter":
        lines.append(_row("boards", _boards(boards)))
        lines.append(_row("serial", _serial(_dict(report.get("serial")))))
    lines.append(_row("scanner", _scanner(_dict(report.get("scanner")))))
    slots = [s for s in _list(report.get("slots")) if isinstance(s, Mapping)]
    if slots:
        lines.append(_row("slots", _slot_counts(slots)))
        lines += _grid(slots, boards)
        lines += _attention(slots)
    lines += _faults(_list(report.get("faults")))
    return "\n".join(lines)


# ------------------------------------------------------------------------------ parts


def _header(report: Mapping[str, Any]) -> str:
    site = report.get("site", "?")
    kind = report.get("kind", "?")
    version = report.get("agent_version") or "?"
    return f"site {site} ({kind}), agent {version}"


def _clock(at: Any) -> str:
    if not isinstance(at, int | float):
        return "?"
    return f"{timestamp(at)} (the site's clock when it made this report)"


def _link(link: Mapping[str, Any]) -> str:
    if not link:
        return "?"
    state = "connected" if link.get("connected") else "NOT CONNECTED"
    counts = _counts(link, ("connects", "disconnects", "published", "acked", "refused"))
    return _join(state, counts, _error(link.get("last_error")))


def _store(store: Mapping[str, Any]) -> str:
    if not store:
        return "?"
    size = store.get("bytes")
    megabytes = f"{size / 1e6:.1f} MB" if isinstance(size, int | float) else "? MB"
    outbox = f"outbox {store.get('pending_events', '?')} event(s) not yet acknowledged"
    failures = store.get("write_failures") or 0
    failed = f"{failures} FAILED WRITE(S)" if failures else "writes ok"
    return _join(megabytes, outbox, f"last seq {store.get('last_seq', '?')}", failed,
                 _error(store.get("failure")))  # fmt: skip


def _tasks(tasks: Mapping[str, Any]) -> str:
    if not tasks:
        return "?"
    records = {name: t for name, t in tasks.items() if isinstance(t, Mapping)}
    down = [name for name, t in records.items() if not t.get("running")]
    restarts = sum(int(t.get("restarts") or 0) for t in records.values())
    state = f"{len(records) - len(down)} of {len(records)} running"
    if down:
        why = "; ".join(f"{n} DOWN{_error(records[n].get('last_error'), ': ')}" for n in down)
        state = f"{state} ({why})"
    return _join(state, f"{restarts} restart(s)")


def _boards(boards: list[Mapping[str, Any]]) -> str:
    if not boards:
        return "none read"
    present = [b for b in boards if b.get("present")]
    parts = [f"{len(present)} of {len(boards)} answer"]
    for board in boards:
        if board.get("present"):
            parts.append(f"{board.get('board')}: {board.get('reply_ms', '?')} ms")
        else:
            parts.append(f"{board.get('board')}: NO REPLY{_error(board.get('error'), ' (')}")
    return _join(*parts)


def _serial(serial: Mapping[str, Any]) -> str:
    if not serial:
        return "?"
    port = "port open" if serial.get("port_open") else "PORT CLOSED"
    counts = _counts(serial, ("transactions", "timeouts", "retries", "reopens", "port_errors",
                              "bad_frames", "discarded_bytes"))  # fmt: skip
    echo = ECHO.get(serial.get("echo"), "echo ?")
    return _join(str(serial.get("family", "?")), port, counts, echo)


def _scanner(scanner: Mapping[str, Any]) -> str:
    if not scanner:
        return "?"
    if not scanner.get("configured", True):
        return "none configured"
    state = "connected" if scanner.get("connected") else "NOT CONNECTED"
    counts = _counts(scanner, ("codes", "garbage", "too_long", "re_reads", "failures"))
    locked = "LOCKED OUT (too many bad codes)" if scanner.get("locked_out") else ""
    return _join(state, counts, locked, _error(scanner.get("last_error")))


def _slot_counts(slots: list[Mapping[str, Any]]) -> str:
    by_state = Counter(str(s.get("state", "?")) for s in slots)
    order = [*GRID_MARKS, *sorted(set(by_state) - set(GRID_MARKS))]
    counts = ", ".join(f"{by_state[state]} {state}" for state in order if by_state[state])
    return f"{len(slots)} read: {counts}"


def _grid(slots: list[Mapping[str, Any]], boards: list[Mapping[str, Any]]) -> list[str]:
    """One line a board: a mark per lock, in lock order; then the legend."""
    by_board: dict[Any, dict[int, Mapping[str, Any]]] = {}
    for slot in slots:
        lock = slot.get("lock")
        if isinstance(lock, int):
            by_board.setdefault(slot.get("board"), {})[lock] = slot
    if not by_board:
        return []
    lines = []
    for board, at_lock in by_board.items():
        marks = []
        for lock in range(1, max(at_lock) + 1):
            at = at_lock.get(lock)
            if at is None:
                marks.append(UNREAD_MARK)
            elif at.get("agrees") is False:
                marks.append(DISAGREES_MARK)
            else:
                marks.append(GRID_MARKS.get(str(at.get("state")), "?"))
        lines.append(_row("", f"board {board}: {''.join(marks)}"))
    unread = [b.get("board") for b in boards if not b.get("present")]
    if unread:
        lines.append(_row("", f"board(s) {', '.join(map(str, unread))}: not read (no reply)"))
    lines.append(_row("", GRID_LEGEND))
    return lines


def _attention(slots: list[Mapping[str, Any]]) -> list[str]:
    """The slots a technician should look at, with why."""
    found = []
    for slot in slots:
        state = str(slot.get("state"))
        why = []
        if state in ATTENTION_STATES:
            why.append(state.replace("_", " ").upper())
        if slot.get("agrees") is False:
            record = "a parcel" if slot.get("expected_parcel") else "no parcel"
            sensed = "occupied" if slot.get("occupied") else "empty"
            why.append(f"sensor says {sensed}, the record {record}")
        if slot.get("door_open") and state not in OPEN_STATES:
            why.append(f"door open while {state}")
        if why:
            where = f"board {slot.get('board')} lock {slot.get('lock')}"
            found.append(f"  {slot.get('slot', '?'):<6} {where:<18} {'; '.join(why)}")
    if not found:
        return [_row("attention", "no slot needs attention")]
    return [f"slots needing attention ({len(found)}):", *_capped(found)]


def _faults(faults: list[Any]) -> list[str]:
    if not faults:
        return [_row("faults", "none")]
    lines = []
    for fault in faults:
        if not isinstance(fault, Mapping):
            lines.append(f"  {fault}")
            continue
        since = fault.get("since")
        when = timestamp(since) if isinstance(since, int | float) else "?"
        ref = f" {fault['ref']}" if fault.get("ref") else ""
        detail = f": {fault['detail']}" if fault.get("detail") else ""
        lines.append(f"  {fault.get('component', '?')} {fault.get('code', '?')}{ref} "
                     f"since {when}{detail}")  # fmt: skip
    return [f"faults ({len(faults)}):", *_capped(lines)]


# ---------------------------------------------------------------------------- helpers


def _row(label: str, text: str) -> str:
    return f"{label:<{LABEL_WIDTH}}{text}"


def _join(*parts: str) -> str:
    return ", ".join(p for p in parts if p)


def _counts(values: Mapping[str, Any], names: tuple[str, ...]) -> str:
    return ", ".join(f"{values[n]} {COUNT_NAMES.get(n, n.replace('_', ' '))}"
                     for n in names if n in values)  # fmt: skip


def _error(error: Any, lead: str = "last error: ") -> str:
    if not error:
        return ""
    close = ")" if lead.endswith("(") else ""
    return f"{lead}{error}{close}"


def _capped(lines: list[str]) -> list[str]:
    if len(lines) <= MAX_LISTED:
        return lines
    return [*lines[:MAX_LISTED], f"  ... and {len(lines) - MAX_LISTED} more (--json lists all)"]


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
