"""The technician's report: boards, locks, sensors, scanner, link and store, as one dict.

The same report answers `lockernet edge diag` on the device and a RunDiagnostics command
from central (protocols/site_report.py makes the summary a person reads of it). It reads
every board afresh, so it shows the hardware as it is now. Each part says how it is
(`health()` on the lock-bus driver, the scanner reader, the uplink, the store and the
supervisor); the site's owner hands the parts in (`SiteParts`), so this module knows nothing
of the agent.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from edge.drivers.lockboard import LockBoardDriver
from edge.drivers.scanner import ScannerReader
from edge.errors import NoReply
from edge.host.supervisor import Supervisor
from edge.site.lockout import ScanLockout
from edge.store.sqlite import Store
from edge.uplink.mqtt import SiteLink
from protocols.clock import Clock
from protocols.messages import Fault, SiteKind, SlotState


@dataclass(frozen=True)
class SiteParts:
    """What the report asks: one site's parts, as its owner holds them."""

    site: str
    kind: SiteKind
    clock: Clock
    store: Store
    link: SiteLink
    tasks: Supervisor
    scan_lockout: ScanLockout
    faults: Iterable[Fault]
    slot_at: Mapping[tuple[int, int], str]  # (board, lock) -> slot id
    driver: LockBoardDriver | None = None
    scanner: ScannerReader | None = None


async def report(parts: SiteParts) -> dict[str, Any]:
    """The report as a JSON-ready dict: boards read now (present, reply time), each slot's
    state beside its sensors, and each part's health."""
    boards: list[dict[str, Any]] = []
    slots: list[dict[str, Any]] = []
    serial: dict[str, Any] = {}
    if parts.driver is not None:
        records = {r.id: r for r in parts.store.read().slots()}
        for board in parts.driver.boards:
            started = time.perf_counter()
            try:
                reading = await parts.driver.read_board(board)
            except NoReply as exc:
                boards.append({"board": board, "present": False, "error": str(exc)})
                continue
            elapsed_ms = (time.perf_counter() - started) * 1000
            boards.append({"board": board, "present": True, "reply_ms": round(elapsed_ms, 2)})
            for (b, lock), slot_id in sorted(parts.slot_at.items()):
                if b == board:
                    door_open = reading.door_open[lock - 1]
                    occupied = reading.occupied[lock - 1]
                    record = records[slot_id]
                    line = _slot(
                        slot_id, record.state, record.parcel is not None, door_open, occupied
                    )
                    slots.append({"board": board, "lock": lock, **line})
        serial = parts.driver.health()
    scanner: dict[str, Any] = {"configured": parts.scanner is not None}
    if parts.scanner is not None:
        lockout = parts.scan_lockout
        scanner.update(
            parts.scanner.health(),
            locked_out=lockout.locked_out(parts.clock.monotonic()),
            re_reads=lockout.stats.repeats + lockout.stats.retries,
        )
    return {
        "site": parts.site,
        "kind": parts.kind.value,
        "agent_version": parts.link.agent_version,
        "at": parts.clock.now(),
        "boards": boards,
        "slots": slots,
        "serial": serial,
        "scanner": scanner,
        "link": parts.link.health(),
        "store": parts.store.health(),
        "tasks": parts.tasks.health(),
        "faults": [f.model_dump(mode="json", exclude_none=True) for f in parts.faults],
    }


def _slot(
    slot_id: str, state: SlotState, has_parcel: bool, door_open: bool, occupied: bool | None
) -> dict[str, Any]:
    """One slot's line: its recorded state beside what its sensors say now."""
    expect_parcel = state in (SlotState.OCCUPIED, SlotState.OPEN_FOR_PICKUP)
    # No occupancy sensor (None), or an open door, cannot disagree with the record.
    agrees = occupied is None or door_open or occupied == has_parcel
    return {
        "slot": slot_id,
        "state": state.value,
        "door_open": door_open,
        "occupied": occupied,
        "expected_parcel": expect_parcel,
        "agrees": agrees,
    }
