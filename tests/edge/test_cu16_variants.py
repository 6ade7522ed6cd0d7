"""Our CU16 driver against the board variants the published drivers show (docs/hardware.md §1).

A board that answers an unlock with its status, a board that stays silent while the driver
waits for an answer, and a board whose status reply carries the command byte 0x36: each is
read right, and an unlock goes out exactly once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from edge.config import LockBusConfig
from edge.drivers.links import ByteLink
from edge.drivers.lockboard import LockBoardDriver
from hw_sim.devices.cu16 import Cu16Options
from hw_sim.devices.site import SimulatedSite, SiteConfig
from protocols.clock import SystemClock
from tests.eventually import eventually_async

UNLOCK_B0_L3 = bytes.fromhex("02 02 31 03 38")
STATUS_B0 = bytes.fromhex("02 00 30 03 35")
# Board 0 answering 0x36: lock 1 released (FE), IR 1 sees a parcel (01);
# 02+00+36+FE+FF+01+03 = 0x239.
STATUS_B0_AS_0x36 = bytes.fromhex("02 00 36 FE FF 01 00 03 39")


class RecordingLink:
    """A host link that keeps what the driver wrote, to count the unlocks sent."""

    def __init__(self, link: Any, written: list[bytes]) -> None:
        self._link = link
        self._written = written

    async def read(self) -> bytes:
        data: bytes = await self._link.read()
        return data

    def write(self, data: bytes) -> None:
        self._written.append(bytes(data))
        self._link.write(data)

    def close(self) -> None:
        self._link.close()


async def _with_driver(
    board: Cu16Options,
    unlock_reply: bool,
    test: Callable[[SimulatedSite, LockBoardDriver, list[bytes]], Awaitable[None]],
) -> None:
    clock = SystemClock()
    site = SimulatedSite(clock, SiteConfig(board_options=board))
    locks, _scanner = site.serve_memory()
    written: list[bytes] = []

    async def opener() -> ByteLink:
        return RecordingLink(locks.open(), written)

    config = LockBusConfig(
        port="mem", boards=[0], reply_timeout_s=0.3, echo="off", unlock_reply=unlock_reply
    )
    driver = LockBoardDriver(config, opener, clock)
    await driver.start()
    try:
        async with asyncio.timeout(10):
            await eventually_async(lambda: driver.bus.port_open, what="the port open")
            await test(site, driver, written)
    finally:
        await driver.stop()
        await site.aclose()


@pytest.mark.parametrize("unlock_reply", [False, True])
def test_a_board_that_answers_the_unlock_is_unlocked_once_and_read_right(
    unlock_reply: bool,
) -> None:
    async def test(site: SimulatedSite, driver: LockBoardDriver, written: list[bytes]) -> None:
        await driver.unlock(0, 3)
        reading = await driver.read_board(0)
        assert reading.door_open[2] and not any(reading.door_open[:2])
        assert written.count(UNLOCK_B0_L3) == 1
        assert site.compartment(0, 3).openings == 1

    asyncio.run(
        _with_driver(Cu16Options(reply_to_unlock=True, coil_hold_s=0.3), unlock_reply, test)
    )


def test_a_silent_board_is_never_sent_the_unlock_again() -> None:
    """The driver set to expect an answer to its unlock (unlock_reply) meets a board that
    gives none. Re-sending, as one published driver does, would release the lock again and
    spring open a door a person may have shut meanwhile: the outcome stays for the door's
    sensor to settle, and the unlock goes out once."""

    async def test(site: SimulatedSite, driver: LockBoardDriver, written: list[bytes]) -> None:
        await driver.unlock(0, 3)  # no reply came: not an error, not a retry
        assert (await driver.read_board(0)).door_open[2]
        assert written.count(UNLOCK_B0_L3) == 1
        assert site.compartment(0, 3).openings == 1

    asyncio.run(_with_driver(Cu16Options(coil_hold_s=0.3), True, test))


class BoardAnswering0x36:
    """A scripted board 0 that answers its status query with command byte 0x36."""

    def __init__(self, written: list[bytes]) -> None:
        self._replies: asyncio.Queue[bytes] = asyncio.Queue()
        self._written = written

    async def read(self) -> bytes:
        return await self._replies.get()

    def write(self, data: bytes) -> None:
        self._written.append(bytes(data))
        if bytes(data) == STATUS_B0:
            self._replies.put_nowait(STATUS_B0_AS_0x36)

    def close(self) -> None:
        pass


def test_a_status_reply_with_command_byte_0x36_is_read_as_the_status() -> None:
    async def run() -> None:
        written: list[bytes] = []
        board = BoardAnswering0x36(written)

        async def opener() -> ByteLink:
            return board

        config = LockBusConfig(port="mem", boards=[0], reply_timeout_s=0.3, echo="off")
        driver = LockBoardDriver(config, opener, SystemClock())
        await driver.start()
        try:
            async with asyncio.timeout(10):
                await eventually_async(lambda: driver.bus.port_open, what="the port open")
                reading = await driver.read_board(0)
        finally:
            await driver.stop()
        assert reading.door_open[0] and not any(reading.door_open[1:])
        assert reading.occupied[0] and not any(reading.occupied[1:])
        assert written == [STATUS_B0]  # answered the first time: no retry was needed

    asyncio.run(run())
