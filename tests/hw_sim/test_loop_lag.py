"""A busy event loop is the simulator's problem, not a board's (issue 16 item 3).

An agent's reply timeout is measured on its clock; a loop kept busy past the deadline runs
the timeout in the same pass as the reply's bytes. The lock bus looks once more before it
calls a reply missing (edge/drivers/lockboard.py `Bus._last_look`), so a board that answered
in time is never called silent, and a silent board still is. The simulator measures its
loop's lag (hw_sim/network/loop_lag.py) and fails a day it could not keep up with.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from edge.config import LockBusConfig
from edge.drivers.links import ByteLink, Opener, serial_opener
from edge.drivers.lockboard import LockBoardDriver
from edge.errors import NoReply
from hw_sim.devices.faults import FaultKind
from hw_sim.devices.site import SimulatedSite, SiteConfig
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
