"""Issue 11, kind 7: an RS485 adapter that echoes what the host sends (hardware.md §2a).

The lock-board driver over hw_sim's boards in memory, the adapter echoing or not, with the
bus's `echo` setting "on", "off" or "auto". A lock that does not release is reported stuck,
a lock that does is reported released and is unlocked once, in both board families.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from edge.config import LockBusConfig
from edge.drivers.echo import EchoCanceller
from edge.drivers.links import ByteLink
from edge.drivers.lockboard import LockBoardDriver
from edge.errors import LockDidNotRelease
from hw_sim.devices.cu16 import Cu16Options
from hw_sim.devices.faults import FaultKind
from hw_sim.devices.rs485_board import Rs485Options
from hw_sim.devices.site import SimulatedSite, SiteConfig
from hw_sim.people.people import Consumer, Courier
from protocols.boards import BoardFamily, rs485
from protocols.boards.rs485 import Feedback
from protocols.clock import SystemClock
from protocols.messages import SlotState
from tests.edge.answers import scan_opens_nothing
from tests.edge.rig import BRISK, Observer, SiteRig, labels
from tests.eventually import eventually, eventually_async

# hardware.md §2a: the 0x8A unlock of board 1, channel 3, and the board's answer when the
# door feedback reads 11: byte for byte the request.
UNLOCK_B1_CH3 = bytes.fromhex("8A 01 03 11 99")
CU16_STATUS_B0 = bytes.fromhex("02 00 30 03 35")  # hardware.md §1

# (does the adapter echo?, the bus's echo setting)
CASES = [(True, "on"), (False, "off"), (True, "auto"), (False, "auto")]


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
    profile: BoardFamily,
    adapter_echoes: bool,
    setting: str,
    test: Callable[[SimulatedSite, LockBoardDriver, list[bytes]], Awaitable[None]],
    open_level: Feedback = Feedback.HIGH,
) -> None:
    clock = SystemClock()
    site = SimulatedSite(
        clock,
        SiteConfig(
            profile=profile,
            board_options=Cu16Options(coil_hold_s=0.3)
            if profile is BoardFamily.CU16
            else Rs485Options(open_level=open_level, unlock_reply_delay_s=0.05),
        ),
    )
    locks, _scanner = site.serve_memory()
    if adapter_echoes:
        site.set_fault(FaultKind.ADAPTER_ECHO, True)
    written: list[bytes] = []

    async def opener() -> ByteLink:
        return RecordingLink(locks.open(), written)

    if profile is BoardFamily.CU16:
        config = LockBusConfig(port="mem", boards=[0], reply_timeout_s=0.3, echo=setting)
    else:
        config = LockBusConfig(
            port="mem",
            family="rs485-8a",
            rs485_boards=[
                {
                    "address": 1,
                    "channels": 8,
                    "open_level": "high" if open_level is Feedback.HIGH else "low",
                }
            ],
            reply_timeout_s=0.3,
            echo=setting,
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


def test_the_unlock_of_the_issue_is_the_documented_frame() -> None:
    assert rs485.Unlock(1, 3).to_bytes() == UNLOCK_B1_CH3
    assert rs485.UnlockReply(1, 3, Feedback.HIGH).to_bytes() == UNLOCK_B1_CH3


@pytest.mark.parametrize(("adapter_echoes", "setting"), CASES)
def test_a_stuck_0x8a_lock_is_reported_stuck_with_and_without_echo(
    adapter_echoes: bool, setting: str
) -> None:
    """Host sends 8A 01 03 11 99 and, with echo, reads 8A 01 03 11 99 straight back: that is
    its own frame, not the board's answer (8A 01 03 00 88, the door still shut)."""

    async def test(site: SimulatedSite, driver: LockBoardDriver, written: list[bytes]) -> None:
        await driver.read_board(1)  # start-up: the agent reads the boards first
        assert driver.bus.stats.echo is (adapter_echoes or setting == "on")
        site.set_fault(FaultKind.LOCK_STUCK, True, board=1, slot=3)
        with pytest.raises(LockDidNotRelease):
            await driver.unlock(1, 3)
        assert UNLOCK_B1_CH3 in written
        assert site.compartment(1, 3).openings == 0
        if adapter_echoes:
            # The echo came and was dropped, exactly: every request's own bytes, no more.
            assert driver.bus.echo.stats.echoed_frames == len(written)
            assert driver.bus.echo.stats.echoed_bytes == sum(len(w) for w in written)
        else:
            assert driver.bus.echo.stats.echoed_frames == 0

    asyncio.run(_with_driver(BoardFamily.RS485_8A, adapter_echoes, setting, test))


@pytest.mark.parametrize(("adapter_echoes", "setting"), CASES)
def test_a_0x8a_lock_whose_open_level_is_low_is_released_once_with_and_without_echo(
    adapter_echoes: bool, setting: str
) -> None:
    """The other face of the echo: where 00 means open, the echo's 11 reads "still shut",
    and a driver that believed it unlocked a released door again."""

    async def test(site: SimulatedSite, driver: LockBoardDriver, written: list[bytes]) -> None:
        await driver.read_board(1)
        await driver.unlock(1, 3)  # no LockDidNotRelease
        assert written.count(UNLOCK_B1_CH3) == 1
        assert site.compartment(1, 3).openings == 1

    asyncio.run(_with_driver(BoardFamily.RS485_8A, adapter_echoes, setting, test, Feedback.LOW))


@pytest.mark.parametrize(("adapter_echoes", "setting"), CASES)
def test_a_stuck_cu16_lock_is_reported_stuck_and_a_good_one_released_with_and_without_echo(
    adapter_echoes: bool, setting: str
) -> None:
    async def test(site: SimulatedSite, driver: LockBoardDriver, written: list[bytes]) -> None:
        reading = await driver.read_board(0)
        assert written[0] == CU16_STATUS_B0
        assert not any(reading.door_open)
        assert driver.bus.stats.echo is (adapter_echoes or setting == "on")
        site.set_fault(FaultKind.LOCK_STUCK, True, board=0, slot=2)
        with pytest.raises(LockDidNotRelease):
            await driver.unlock(0, 2)
        assert site.compartment(0, 2).openings == 0
        await driver.unlock(0, 5)
        assert site.compartment(0, 5).openings == 1
        if adapter_echoes:
            assert driver.bus.echo.stats.echoed_frames == len(written)

    asyncio.run(_with_driver(BoardFamily.CU16, adapter_echoes, setting, test))


def test_auto_follows_an_adapter_that_starts_echoing_behind_an_open_port() -> None:
    """A converter power-cycled into local echo without the port closing: the next status
    read sees its own bytes and the following unlock's echo is not taken for a reply."""

    async def test(site: SimulatedSite, driver: LockBoardDriver, written: list[bytes]) -> None:
        await driver.read_board(1)
        assert driver.bus.stats.echo is False
        site.set_fault(FaultKind.ADAPTER_ECHO, True)
        await driver.read_board(1)
        assert driver.bus.stats.echo is True
        site.set_fault(FaultKind.LOCK_STUCK, True, board=1, slot=3)
        with pytest.raises(LockDidNotRelease):
            await driver.unlock(1, 3)

    asyncio.run(_with_driver(BoardFamily.RS485_8A, False, "auto", test))


def test_an_unlock_first_after_opening_waits_for_the_probe_on_auto() -> None:
    """With echo unknown, an unlock (whose 0x8A reply can equal its echo) is preceded by a
    status read that settles it."""

    async def test(site: SimulatedSite, driver: LockBoardDriver, written: list[bytes]) -> None:
        site.set_fault(FaultKind.LOCK_STUCK, True, board=1, slot=3)
        with pytest.raises(LockDidNotRelease):
            await driver.unlock(1, 3)
        assert written[0] == rs485.QueryAll(1).to_bytes()
        assert driver.bus.stats.echo is True

    asyncio.run(_with_driver(BoardFamily.RS485_8A, True, "auto", test))


def test_the_canceller_drops_exactly_the_echo_however_it_is_chunked() -> None:
    reply = bytes.fromhex("8A 01 03 00 88")
    for cut in range(1, 10):
        canceller = EchoCanceller()
        canceller.expect(UNLOCK_B1_CH3)
        data = UNLOCK_B1_CH3 + reply
        out = canceller.feed(data[:cut]) + canceller.feed(data[cut:])
        assert out == reply, cut
        assert not canceller.waiting


def test_the_canceller_passes_everything_on_when_the_echo_does_not_come() -> None:
    # The board's status reply shares the query's first two bytes: they are held back
    # while they could be the echo, then passed on whole.
    reply = bytes.fromhex("02 00 35 FE FF 01 00 03 38")  # hardware.md §1's example
    canceller = EchoCanceller()
    canceller.probe(CU16_STATUS_B0)
    assert canceller.feed(reply[:2]) == b""
    assert canceller.feed(reply[2:]) == reply
    assert canceller.probe_result is False
    assert canceller.stats.missing == 1


@pytest.mark.broker
@pytest.mark.pty
def test_through_the_agent_an_echoing_adapter_found_at_run_time_changes_nothing_it_does(
    tmp_path, broker, topics
) -> None:
    """The agent on real ptys, `echo = "auto"` (the default): the adapter starts echoing,
    the next poll notices, and deposits, pickups and a stuck lock's fault go on as before."""
    observer = Observer(broker, topics, "L0001")
    good, stuck = labels(2, start=1700)

    async def scenario() -> None:
        rig = SiteRig(tmp_path, broker, topics)
        agent = await rig.start()
        try:
            assert agent.driver is not None and agent.driver.bus.stats.echo is False
            rig.sim.set_fault(FaultKind.ADAPTER_ECHO, True)
            await eventually_async(lambda: agent.driver.bus.stats.echo is True, what="echo")
            slots = {p: await rig.reserve(p) for p in (good, stuck)}
            report = await Courier(rig.sim, BRISK).deposit(rig.badge(), [good, stuck])
            assert sorted(report.placed) == sorted([good, stuck])
            for slot in slots.values():
                await eventually_async(
                    lambda s=slot: agent.store.read().slot(s).state is SlotState.OCCUPIED
                )
            lock = agent.slots[slots[stuck]].lock
            rig.sim.set_fault(FaultKind.LOCK_STUCK, True, board=0, slot=lock)
            await scan_opens_nothing(agent, rig.sim, rig.pickup_code(stuck))
            await eventually_async(
                lambda: agent.store.read().slot(slots[stuck]).state is SlotState.FAULT
            )
            taken = await Consumer(rig.sim, BRISK).pick_up(rig.pickup_code(good))
            assert taken.taken == [good]
            await eventually_async(
                lambda: agent.store.read().slot(slots[good]).state is SlotState.FREE
            )
            await eventually_async(lambda: agent.store.pending_count() == 0)
            assert agent.driver.bus.echo.stats.echoed_bytes > 0
        finally:
            await rig.stop()

    asyncio.run(scenario())
    try:
        eventually(lambda: len(observer.of_type("parcel_picked_up")) == 1, what="the pickup")
        faults = observer.of_type("lock_fault")
        assert len(faults) == 1 and faults[0].payload.fault.value == "lock_wont_release"
        assert len(observer.of_type("parcel_deposited")) == 2
    finally:
        observer.close()
