"""Our CU48 driver against the bytes a real board sends and the ways a line spoils them
(docs/hardware.md §6): a real board's captured status, another board's answer, an answer
to an unlock, a board that never answers an unlock, and noisy or cut replies."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from edge.config import LockBusConfig
from edge.drivers.links import ByteLink
from edge.drivers.lockboard import LockBoardDriver
from hw_sim.devices.cu48 import Cu48Options
from hw_sim.devices.site import SimulatedSite, SiteConfig
from protocols.boards import cu48
from protocols.clock import SystemClock
from tests.eventually import eventually_async

# AshurkovAV/KerongConsole's capture: board 0 with lock 1 closed and compartment 1's sensor
# bit set; every other lock open.
CAPTURED_B0 = bytes.fromhex("02 00 00 75 01 00 00 00 00 00 01 00 00 00 00 00 03 7c")
# The same capture's "all cells open": its first data byte is 00.
CAPTURED_B0_ALL_OPEN = bytes.fromhex("02 00 00 75 00 00 00 00 00 00 00 00 00 00 00 00 03 7a")
ALL_LOCKED_B1 = cu48.BoardStatus(1, (True,) * 48, (False,) * 48).to_bytes()
ALL_LOCKED_B0 = cu48.BoardStatus(0, (True,) * 48, (False,) * 48).to_bytes()

Script = Callable[[bytes], list[bytes]]


class ScriptedBus:
    """A host link whose answers to each request the test writes; keeps what was sent."""

    def __init__(self, script: Script) -> None:
        self.written: list[bytes] = []
        self._script = script
        self._replies: asyncio.Queue[bytes] = asyncio.Queue()

    async def read(self) -> bytes:
        return await self._replies.get()

    def write(self, data: bytes) -> None:
        self.written.append(bytes(data))
        for chunk in self._script(bytes(data)):
            self._replies.put_nowait(chunk)

    def close(self) -> None:
        pass


async def _driven(
    link: ByteLink | Callable[[], ByteLink],
    boards: list[int],
    test: Callable[[LockBoardDriver], Awaitable[None]],
) -> None:
    async def opener() -> ByteLink:
        return link() if callable(link) else link

    config = LockBusConfig(
        port="mem", family="cu48", boards=boards, reply_timeout_s=0.3, echo="off", retries=2
    )
    driver = LockBoardDriver(config, opener, SystemClock())
    await driver.start()
    try:
        async with asyncio.timeout(10):
            await eventually_async(lambda: driver.bus.port_open, what="the port open")
            await test(driver)
    finally:
        await driver.stop()


@pytest.mark.parametrize(("captured", "shut"), [(CAPTURED_B0, {1}), (CAPTURED_B0_ALL_OPEN, set())])
def test_a_real_board_s_captured_status_is_read(captured: bytes, shut: set[int]) -> None:
    bus = ScriptedBus(lambda req: [captured] if req == cu48.query_status(0).to_bytes() else [])

    async def test(driver: LockBoardDriver) -> None:
        reading = await driver.read_board(0)
        assert {i + 1 for i, is_open in enumerate(reading.door_open) if not is_open} == shut
        assert reading.occupied[0] == bool(shut) and not any(reading.occupied[1:])

    asyncio.run(_driven(bus, [0], test))


def test_another_board_s_status_and_an_unlock_answer_are_not_taken_for_the_reading() -> None:
    def script(req: bytes) -> list[bytes]:
        if req == cu48.query_status(1).to_bytes():
            # Board 0's status, an unlock answer of board 1 and a status of the right shape
            # cut short, then board 1's own status: only the last is board 1's reading.
            return [
                ALL_LOCKED_B0,
                cu48.UnlockAck(1, 1).to_bytes(),
                ALL_LOCKED_B1[:9],
                ALL_LOCKED_B1,
            ]
        return []

    bus = ScriptedBus(script)

    async def test(driver: LockBoardDriver) -> None:
        reading = await driver.read_board(1)
        assert reading.board == 1 and not any(reading.door_open)
        assert driver.bus.stats.timeouts == 0

    asyncio.run(_driven(bus, [0, 1], test))


def test_noise_and_a_cut_reply_byte_by_byte_still_give_the_reading() -> None:
    noisy = b"\xff\x75\x02\x00" + ALL_LOCKED_B0[:13] + b"\x00\x02" + CAPTURED_B0

    def script(req: bytes) -> list[bytes]:
        if req == cu48.query_status(0).to_bytes():
            return [noisy[i : i + 1] for i in range(len(noisy))]
        return []

    bus = ScriptedBus(script)

    async def test(driver: LockBoardDriver) -> None:
        reading = await driver.read_board(0)
        assert not reading.door_open[0] and all(reading.door_open[1:])

    asyncio.run(_driven(bus, [0], test))


def test_a_board_that_never_answers_an_unlock_costs_no_timeout_and_is_read_after() -> None:
    released: set[int] = set()

    def script(req: bytes) -> list[bytes]:
        if req[3] == cu48.Command.UNLOCK:
            released.add(req[2] + 1)  # the lock releases; the board says nothing
            return []
        locked = tuple(lock not in released for lock in range(1, 49))
        return [cu48.BoardStatus(0, locked, (False,) * 48).to_bytes()]

    bus = ScriptedBus(script)

    async def test(driver: LockBoardDriver) -> None:
        await driver.unlock(0, 30)
        unlock = cu48.unlock(0, 30).to_bytes()
        assert bus.written.count(unlock) == 1
        # The release was confirmed by a status read after the unlock, not left unknown.
        assert bus.written[bus.written.index(unlock) + 1] == cu48.query_status(0).to_bytes()
        assert driver.bus.stats.timeouts == 0

    asyncio.run(_driven(bus, [0], test))


def test_the_simulated_board_s_unlock_answer_does_no_harm() -> None:
    async def run() -> None:
        clock = SystemClock()
        site = SimulatedSite(
            clock, SiteConfig(profile="cu48", boards=2, board_options=Cu48Options(coil_hold_s=0.3))
        )
        locks, _scanner = site.serve_memory()

        async def test(driver: LockBoardDriver) -> None:
            await driver.unlock(1, 41)
            reading = await driver.read_board(1)
            assert [i + 1 for i, is_open in enumerate(reading.door_open) if is_open] == [41]
            assert site.compartment(1, 41).openings == 1
            assert driver.bus.stats.timeouts == 0

        try:
            await _driven(locks.open, [0, 1], test)
        finally:
            await site.aclose()

    asyncio.run(run())
