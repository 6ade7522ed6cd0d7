"""A busy event loop is the simulator's problem, not a board's (issue 16 item 3).

An agent's reply timeout is measured on its clock; a loop kept busy past the deadline runs
the timeout in the same pass as the reply's bytes. The lock bus looks once more before it
calls a reply missing (edge/drivers/lockboard.py `Bus._last_look`), so a board that answered
in time is never called silent, and a silent board still is. The simulator measures its
loop's lag (hw_sim/network/loop_lag.py) and fails a day it could not keep up with.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from edge.config import LockBusConfig
from edge.drivers.links import ByteLink, Opener, SerialLink, serial_opener
from edge.drivers.lockboard import LockBoardDriver
from edge.errors import NoReply
from hw_sim.devices.faults import FaultKind
from hw_sim.devices.site import SimulatedSite, SiteConfig
from hw_sim.network import site_setup
from hw_sim.network.fleet import SimOptions, simulate
from hw_sim.network.live_view import HourView, LiveView
from hw_sim.network.loop_lag import LoopLag, behind
from protocols.clock import ScaledClock
from tests.eventually import eventually_async

# The field's reply timeout (protocols/boards/rs485.py) at x96: 15.6 real ms. A loop held
# 20 ms at a time by other work misses nearly every such deadline.
COMPRESSION = 96.0
REPLY_TIMEOUT_S = 1.5
HOG_S = 0.02
READS = 30


@asynccontextmanager
async def _busy_loop(hold_s: float) -> AsyncIterator[None]:
    """Another task of the loop holds it `hold_s` real seconds at each of its turns, as a
    loaded simulator's thousands of agents do."""

    async def hog() -> None:
        while True:
            await asyncio.sleep(0)
            time.sleep(hold_s)  # the CPU-bound work of others, which never yields

    task = asyncio.ensure_future(hog())
    try:
        yield
    finally:
        task.cancel()


async def _on_a_driver(
    transport: str,
    tmp_path: Path,
    test: Callable[[SimulatedSite, LockBoardDriver], Awaitable[None]],
) -> None:
    clock = ScaledClock(COMPRESSION)
    sim = SimulatedSite(clock, SiteConfig(boards=2))
    opener: Opener
    if transport == "pty":  # the Pi's path: pyserial, the loop's reader on a descriptor
        locks, _ = sim.serve_pty(tmp_path)
        opener = serial_opener(str(locks.path), sim.locks.baud)
    else:
        memory, _ = sim.serve_memory()

        async def open_memory() -> ByteLink:
            return memory.open()

        opener = open_memory
    config = LockBusConfig(
        port="memory", boards=sim.board_ids, reply_timeout_s=REPLY_TIMEOUT_S, echo="off"
    )
    driver = LockBoardDriver(config, opener, clock)
    await driver.start()
    try:
        await eventually_async(lambda: driver.bus.port_open, 10, "the lock bus open")
        await test(sim, driver)
    finally:
        await driver.stop()
        await sim.aclose()


@pytest.mark.parametrize("transport", ["memory", "pty"])
def test_a_board_that_answers_in_time_is_not_silent_while_the_loop_is_busy(
    transport: str, tmp_path: Path
) -> None:
    async def test(sim: SimulatedSite, driver: LockBoardDriver) -> None:
        board = sim.board_ids[0]
        async with _busy_loop(HOG_S):
            for _ in range(READS):
                await driver.read_board(board)  # NoReply here is the false board fault
        stats = driver.bus.stats
        assert stats.boards[board].online and stats.boards[board].no_replies == 0
        assert stats.timeouts == 0, driver.health()
        # The loop really was late: the replies came after their deadline had run.
        assert stats.replies_on_last_look > 0, driver.health()

    asyncio.run(_on_a_driver(transport, tmp_path, test))


@pytest.mark.parametrize("transport", ["memory", "pty"])
def test_a_silent_board_is_still_called_silent_while_the_loop_is_busy(
    transport: str, tmp_path: Path
) -> None:
    async def test(sim: SimulatedSite, driver: LockBoardDriver) -> None:
        silent, other = sim.board_ids
        sim.set_fault(FaultKind.NO_REPLY, True, board=silent)
        async with _busy_loop(HOG_S):
            with pytest.raises(NoReply):
                await driver.read_board(silent)
            await driver.read_board(other)  # the bus goes on for the boards that answer
        assert not driver.bus.stats.boards[silent].online
        assert driver.bus.stats.timeouts == driver.config.retries, driver.health()

    asyncio.run(_on_a_driver(transport, tmp_path, test))


# ---------------------------------------------------------------------------- the monitor
def test_the_lag_is_weighted_by_the_time_it_lasted() -> None:
    lag = LoopLag(compression=96.0)
    for _ in range(990):
        lag.record(1.0, 0.05)  # 49.5 s of a loop on time
    lag.record(5_000.0, 5.0)  # one wake-up five seconds late: a tenth of the day behind
    figures = lag.figures()
    # By count it is one wake-up in a thousand; by time, a tenth of the day.
    assert figures.p99_ms == 5_000.0 and figures.p50_ms == 1.0 and figures.max_ms == 5_000.0
    assert figures.p99_sim_s == 480.0  # at x96
    assert figures.summary()["loop_lag_sim_s_max"] == 480.0
    mark = lag.mark()
    lag.record(2.0, 0.05)
    assert lag.figures(since=mark).max_ms == 2.0  # the live view's hour


def test_the_verdict_names_the_limit_the_lag_passed() -> None:
    lag = LoopLag(compression=24.0)
    lag.record(600.0, 1.0)  # 14.4 s simulated, all day long
    figures = lag.figures()
    [sustained] = behind(figures, reply_timeout_s=12.0, door_left_open_s=600.0)
    assert sustained.startswith("the simulator fell behind") and "reply timeout" in sustained
    assert behind(figures, reply_timeout_s=15.0, door_left_open_s=600.0) == []
    [stall] = behind(figures, reply_timeout_s=None, door_left_open_s=10.0)
    assert "door-left-open" in stall
    with pytest.raises(ValueError, match="positive compression"):
        LoopLag(compression=0.0)


# ----------------------------------------------------------------------------- the day
# A small day (faults off: none of the day's board silences, so any board_fault is false),
# its first locker over a pty as on a Pi: a reply crosses the kernel's tty layer and the
# agent's port reader, the longest way from a board's bytes to the agent.
DAY = SimOptions(
    lockers=3, counters=2, couriers=3, parcels=60, seed=3, wall_s=25.0, pty_sites=1, faults=False
)


def _starve_the_pty_lock_bus(monkeypatch: pytest.MonkeyPatch, hold_s: float) -> None:
    """After each request the pty locker's agent writes to its lock boards, hold the loop
    `hold_s` real seconds, two turns later: once the agent has armed the reply's timeout
    and before the board's reply is due, so the timeout and the reply are due together
    when the loop is free again (a busy callback, as a loaded day's thousands of tasks)."""
    write = SerialLink.write

    def busy_write(link: SerialLink, data: bytes) -> None:
        write(link, data)
        if Path(link.name).name == "locks":
            loop = asyncio.get_running_loop()
            loop.call_soon(loop.call_soon, time.sleep, hold_s)

    monkeypatch.setattr(SerialLink, "write", busy_write)


def _board_faults(summary: dict[str, Any]) -> int:
    return int(summary["alarms_at_central"].get("board_fault", {}).get("raised", 0))


@pytest.mark.broker
def test_a_day_starved_past_its_reply_timeout_fails_as_the_simulator_s_own(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Each request to one locker's boards is followed by 0.1 s of a busy loop, against a
    # reply timeout of 0.05 real s: without the bus's last look its boards were called down
    # (7 board_fault alarms in this day).
    monkeypatch.setattr(site_setup, "REAL_REPLY_TIMEOUT_S", 0.05)
    _starve_the_pty_lock_bus(monkeypatch, hold_s=0.1)
    summary = asyncio.run(simulate(DAY, lambda _line: None, tmp_path))
    summary.pop("_tally")
    assert _board_faults(summary) == 0, summary["alarms_at_central"]
    assert summary["board_replies_on_last_look"] > 0
    assert summary["loop_lag_ms_max"] >= 100.0
    assert summary["loop_lag_sim_s_p99"] == pytest.approx(
        summary["loop_lag_ms_p99"] / 1000 * DAY.compression, rel=0.01
    )
    # The day is judged hollow for the simulator's own reason, and for no other.
    assert summary["verdict"] == "failed"
    assert summary["simulator_fell_behind"], summary
    assert all("the simulator fell behind" in p for p in summary["simulator_fell_behind"])
    assert "board reply timeout" in summary["simulator_fell_behind"][0]
    assert summary["events_lost"] == 0 and summary["invariants_broken"] == [], summary


@pytest.mark.broker
def test_a_day_starved_within_its_limits_is_clean_and_reports_its_lag(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The same starved locker, its loop held well within the day's reply timeout (0.5 real
    # s): late by tens of simulated seconds, judged all the same.
    _starve_the_pty_lock_bus(monkeypatch, hold_s=0.03)
    lines: list[str] = []
    summary = asyncio.run(simulate(DAY, lines.append, tmp_path))
    summary.pop("_tally")
    assert _board_faults(summary) == 0, summary["alarms_at_central"]
    assert summary["loop_lag_ms_max"] >= 30.0
    assert summary["loop_lag_sim_s_max"] >= 30.0 / 1000 * DAY.compression * 0.99
    assert summary["simulator_fell_behind"] == [], summary
    assert summary["verdict"] == "clean", summary
    # The live view's hourly line says how late the loop ran.
    assert any("loop lag p99" in line for line in lines), lines


def test_the_live_view_shows_each_hour_s_lag() -> None:
    lag = LoopLag(compression=720.0)
    lag.record(40.0, 1.0)
    hour = HourView(5.0, 10, 1.0, 3, 3, 1, 10, {}, {}, lag.figures())
    assert hour.line().endswith("loop lag p99 40 ms (28.8 sim s), max 40 ms (28.8 sim s)")
    out = io.StringIO()
    LiveView(lambda _line: None, Console(file=out, force_terminal=True, width=160)).show(hour)
    assert "lag p99/max ms" in out.getvalue() and "40/40" in out.getvalue()
