"""`lockernet edge diag` prints a one-screen summary of the running agent's report (local
times, only what needs attention), `--json` the full report; central's `lockernet diag SITE`
prints the same summary of the report a site sends back."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from central.operator.diagnostics import format_report
from edge.agent import AGENT_VERSION
from edge.host import control
from hw_sim.devices.faults import FaultKind
from hw_sim.devices.site import SimulatedSite
from hw_sim.devices.site import SiteConfig as SimConfig
from protocols.messages import SlotState
from protocols.site_report import MAX_LISTED, summary
from tests.edge.rig import SIZES, SiteRig
from tests.eventually import eventually_async

BOARDS = [0, 1, 2, 3]
SLOTS = 54  # 16 + 16 + 16 + 6 on four CU16 boards
# Mon 30 Nov 2026 10:00:05 UTC.
AT = 1_796_032_805


def slots_54() -> list[dict[str, Any]]:
    return [
        {
            "id": f"{'ABCD'[n // 16]}{n % 16 + 1:02d}",
            "board": n // 16,
            "lock": n % 16 + 1,
            "size": SIZES[n % 4].value,
        }
        for n in range(SLOTS)
    ]


async def edge(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "protocols.cli", "edge", *args, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode()


def test_a_54_slot_sites_summary_fits_a_screen_and_names_the_faulty_slots(
    tmp_path, broker, topics
) -> None:
    async def scenario() -> tuple[str, str]:
        rig = SiteRig(tmp_path, broker, topics,
                      overrides={"lock_bus.boards": BOARDS, "slots": slots_54()})  # fmt: skip
        rig.sim = SimulatedSite(rig.clock, SimConfig(boards=len(BOARDS)))
        agent = await rig.start()
        path = control.socket_path(rig.config.state_dir, "L0001")
        server = await control.serve(agent, path)
        try:
            # B05's IR sensor sees a parcel in an empty compartment; A03 is taken out.
            rig.sim.set_fault(FaultKind.IR_STUCK, True, board=1, slot=5, value=1)
            agent.set_service("A03", False, "tech-1", "hinge")
            await eventually_async(
                lambda: agent.store.read().slot("A03").state is SlotState.OUT_OF_SERVICE
            )
            config_file = tmp_path / "site.toml"
            config_file.write_text(
                f'site_id = "L0001"\nstate_dir = "{rig.config.state_dir}"\n'
                f'central_public_key = "{rig.config.central_public_key}"\nkind = "counter"\n'
                "shelf_capacity = 1\n"
            )
            code, readable = await edge("diag", "--config", str(config_file))
            assert code == 0
            code, raw = await edge("diag", "--config", str(config_file), "--json")
            assert code == 0
            return readable, raw
        finally:
            server.close()
            await rig.stop()

    readable, raw = asyncio.run(scenario())
    lines = readable.splitlines()
    assert len(lines) < 60, readable
    assert lines[0] == f"site L0001 (locker), agent {AGENT_VERSION}"
    [clock] = [line for line in lines if line.startswith("clock")]
    assert clock.endswith(" SGT (the site's clock when it made this report)")
    assert " SGT " in readable and "UTC" not in readable
    assert any(line.startswith("boards    4 of 4 answer") for line in lines)
    [counts] = [line for line in lines if line.startswith("slots     ")]
    assert counts.startswith(f"slots     {SLOTS} read: ")
    assert "1 out_of_service" in counts and "52 free" in counts
    [a03] = [line for line in lines if line.strip().startswith("A03 ")]
    assert "board 0 lock 3" in a03 and "OUT OF SERVICE" in a03
    [b05] = [line for line in lines if line.strip().startswith("B05 ")]
    assert "board 1 lock 5" in b05 and "sensor says occupied, the record no parcel" in b05
    assert any(line.startswith("  sensor ir_mismatch B05 since ") for line in lines)
    # One grid line a board: A03 out of service, B05's sensor disagreeing.
    [grid_a] = [line for line in lines if "board 0: " in line]
    assert grid_a.split("board 0: ")[1] == "..S............."
    [grid_b] = [line for line in lines if "board 1: " in line]
    assert grid_b.split("board 1: ")[1] == "....!..........."
    [grid_d] = [line for line in lines if "board 3: " in line]
    assert grid_d.split("board 3: ")[1] == "......"
    # --json is the full report, as before.
    report = json.loads(raw)
    assert report["site"] == "L0001" and report["agent_version"] == AGENT_VERSION
    assert len(report["slots"]) == SLOTS
    assert [b["board"] for b in report["boards"]] == BOARDS
    # Central's `lockernet diag` shows the same summary of the report a site sends back.
    assert format_report(report) == summary(report)


def report_with_a_dead_board() -> dict[str, Any]:
    slots = [
        {"board": 0, "lock": lock, "slot": f"A{lock:02d}", "state": "fault", "door_open": False,
         "occupied": None, "expected_parcel": False, "agrees": True}
        for lock in range(1, 17)
    ]  # fmt: skip
    faults = [
        {"component": "lock", "code": "lock_stuck", "ref": f"A{n:02d}", "since": AT}
        for n in range(1, 17)
    ]
    return {
        "site": "L0009",
        "kind": "locker",
        "agent_version": "0.1.0",
        "at": AT,
        "boards": [
            {"board": 0, "present": True, "reply_ms": 4.2},
            {"board": 1, "present": False, "error": "board 1: no reply after 3 tries"},
        ],
        "slots": slots,
        "serial": {"family": "cu16", "port_open": True, "transactions": 10, "timeouts": 3},
        "scanner": {"configured": True, "connected": False, "last_error": "unplugged"},
        "link": {"connected": False, "connects": 1, "last_error": "broker:8883 refused"},
        "store": {
            "bytes": 2_500_000,
            "pending_events": 812,
            "last_seq": 9000,
            "write_failures": 0,
            "failure": None,
        },
        "tasks": {"link": {"running": True, "restarts": 2, "last_error": None}},
        "faults": faults,
    }


def test_a_summary_says_what_is_down_in_local_time_and_caps_long_lists() -> None:
    text = summary(report_with_a_dead_board())
    lines = text.splitlines()
    assert "clock     2026-11-30 18:00:05 SGT" in text
    assert "boards    1 of 2 answer, 0: 4.2 ms, 1: NO REPLY (board 1: no reply after 3 tries)" in (
        lines
    )
    assert "board(s) 1: not read (no reply)" in text
    assert "link      NOT CONNECTED, 1 connects, last error: broker:8883 refused" in lines
    assert "outbox 812 event(s) not yet acknowledged" in text
    assert "scanner   NOT CONNECTED, last error: unplugged" in lines
    assert "slots needing attention (16):" in lines
    assert "faults (16):" in lines
    assert lines.count(f"  ... and {16 - MAX_LISTED} more (--json lists all)") == 2
    assert "lock lock_stuck A01 since 2026-11-30 18:00:05 SGT" in text
    assert len(lines) < 60


def test_central_prints_any_other_reply_as_indented_lines() -> None:
    assert format_report({"scanner": "ok", "boards": [{"board": 0}]}).splitlines() == [
        "  scanner: ok",
        "  boards:",
        "    -",
        "      board: 0",
    ]
