"""The technician's report: boards, locks, sensors, scanner, link and store, as one dict.

The same report answers `lockernet edge diag` on the device and a RunDiagnostics command
from central. It reads every board afresh, so it shows the hardware as it is now.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from edge.errors import NoReply
from protocols.messages import SlotState

if TYPE_CHECKING:
    from edge.agent import SiteAgent


async def report(agent: SiteAgent) -> dict[str, Any]:
    boards: list[dict[str, Any]] = []
    slots: list[dict[str, Any]] = []
    if agent.driver is not None:
        records = {r.id: r for r in agent.store.read().slots()}
        for board in agent.driver.boards:
            started = time.perf_counter()
            try:
                reading = await agent.driver.read_board(board)
            except NoReply as exc:
                boards.append({"board": board, "present": False, "error": str(exc)})
                continue
            boards.append(
                {
                    "board": board,
                    "present": True,
                    "reply_ms": round((time.perf_counter() - started) * 1000, 2),
                }
            )
            for (b, lock), slot_id in sorted(agent.slot_at.items()):
                if b != board:
                    continue
                record = records[slot_id]
                door_open = reading.door_open[lock - 1]
                occupied = reading.occupied[lock - 1]
                expect_parcel = record.state in (SlotState.OCCUPIED, SlotState.OPEN_FOR_PICKUP)
                agrees = occupied is None or door_open or occupied == (record.parcel is not None)
                slots.append(
                    {
                        "slot": slot_id,
                        "board": board,
                        "lock": lock,
                        "state": record.state.value,
                        "door_open": door_open,
                        "occupied": occupied,
                        "expected_parcel": expect_parcel,
                        "agrees": agrees,
                    }
                )
        bus = agent.driver.bus.stats
        serial = {
            "port_open": agent.driver.bus.port_open,
            "transactions": bus.transactions,
            "timeouts": bus.timeouts,
            "retries": bus.retries,
            "reopens": bus.reopens,
            "port_errors": bus.port_errors,
            "frames": agent.driver.bus.reassembler.stats.frames,
            "bad_frames": agent.driver.bus.reassembler.stats.bad_frames,
            "discarded_bytes": agent.driver.bus.reassembler.stats.discarded_bytes,
            "echo": bus.echo,  # does the adapter echo? None: not known yet
            "echoed_bytes": agent.driver.bus.echo.stats.echoed_bytes,
        }
    else:
        serial = {}
    scanner: dict[str, Any] = {"configured": agent.scanner is not None}
    if agent.scanner is not None:
        health = agent.scanner.health
        stats = agent.scanner.splitter.stats
        scanner.update(
            connected=health.connected,
            opens=health.opens,
            failures=health.failures,
            last_error=health.last_error,
            codes=stats.codes,
            garbage=stats.garbage,
            too_long=stats.too_long,
            locked_out=agent.scan_lockout.locked_out(agent.clock.monotonic()),
            re_reads=agent.scan_lockout.stats.repeats + agent.scan_lockout.stats.retries,
        )
    link = agent.link.stats
    return {
        "site": agent.site,
        "kind": agent.config.kind.value,
        "at": agent.clock.now(),
        "boards": boards,
        "slots": slots,
        "serial": serial,
        "scanner": scanner,
        "link": {
            "connected": agent.link.connected,
            "connects": link.connects,
            "disconnects": link.disconnects,
            "published": link.published,
            "acked": link.acked,
            "refused": link.refused,
            "last_error": link.last_error,
        },
        "store": {
            "bytes": agent.store.size_bytes(),
            "pending_events": agent.store.pending_count(),
            "last_seq": agent.store.last_seq(),
            "write_failures": agent.store.write_failures,
            "failure": agent.store.failure,
        },
        "tasks": {
            r.name: {
                "running": r.down_since is None,
                "restarts": r.restarts,
                "last_error": r.last_error,
            }
            for r in agent.tasks.records.values()
        },
        "faults": [f.model_dump(mode="json", exclude_none=True) for f in agent.faults.values()],
    }
