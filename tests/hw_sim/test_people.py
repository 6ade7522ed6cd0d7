"""Simulated people act only through the devices; a tiny stand-in agent answers them over
the same serial bytes an edge agent would use."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from hw_sim.devices.cu16 import Cu16Options
from hw_sim.devices.faults import FaultKind
from hw_sim.devices.memory_transport import MemoryLink
from hw_sim.devices.site import SimulatedSite, SiteConfig
from hw_sim.people.people import Consumer, Courier, Pace, Technician, Vandal
from protocols.boards import cu16
from protocols.boards.cu16 import BoardStatus
from protocols.clock import SystemClock
from protocols.scanner import ScanLineSplitter
from tests.eventually import eventually_async
from tests.hw_sim.conftest import exchange

BRISK = Pace(handling_s=0.005, glance_s=0.005, patience_s=1.0)
# For people whose door is not supposed to open: how long they wait before giving up.
IMPATIENT = Pace(handling_s=0.005, glance_s=0.005, patience_s=0.3)
CONFIG = SiteConfig(board_options=Cu16Options(coil_hold_s=0.05))


class StandInAgent:
    """Opens the next free door for each label after a badge, and a parcel's door for its
    pickup code "LNP:<parcel>". Everything else opens nothing."""

    def __init__(self, locks: MemoryLink, scanner: MemoryLink) -> None:
        self.locks = locks
        self.scanner = scanner
        self.where: dict[str, int] = {}  # parcel -> lock on board 0
        self.unlocks: list[int] = []

    async def status(self) -> BoardStatus:
        reply = await exchange(self.locks, cu16.query_status(0).to_bytes(), 9)
        return BoardStatus.from_bytes(reply)

    async def run(self) -> None:
        splitter = ScanLineSplitter()
        courier = False
        while True:
            for code in splitter.feed(await self.scanner.read()):
                lock = None
                if code.text.startswith("BADGE:"):
                    courier = True
                elif courier and not code.text.startswith("LNP:"):
                    status = await self.status()
                    taken = set(self.where.values())
                    lock = next(
                        n for n in range(1, 17) if not status.occupied[n - 1] and n not in taken
                    )
                    self.where[code.text] = lock
                elif code.text.startswith("LNP:"):
                    lock = self.where.get(code.text.removeprefix("LNP:"))
                if lock is not None:
                    self.unlocks.append(lock)
                    self.locks.write(cu16.unlock(0, lock).to_bytes())


def run(test: Callable[[SimulatedSite, StandInAgent], Awaitable[None]]) -> None:
    async def main() -> None:
        site = SimulatedSite(SystemClock(), CONFIG)
        locks, scanner = site.serve_memory()
        agent = StandInAgent(locks.open(), scanner.open())
        task = asyncio.ensure_future(agent.run())
        try:
            await test(site, agent)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await site.aclose()

    asyncio.run(main())


async def latched(agent: StandInAgent, lock: int) -> bool:
    return (await agent.status()).locked[lock - 1]


def test_courier_puts_each_parcel_in_the_door_that_opened_and_closes_it() -> None:
    async def test(site: SimulatedSite, agent: StandInAgent) -> None:
        report = await Courier(site, BRISK).deposit("BADGE:C1", ["RR123456785CN", "LP00000001"])
        assert report.placed == {"RR123456785CN": (0, 1), "LP00000001": (0, 2)}
        assert site.compartment(0, 1).contents == ("RR123456785CN",)
        status = await agent.status()
        assert status.occupied[:3] == (True, True, False)
        await eventually_async(lambda: site.compartment(0, 2).locked())
        assert (await agent.status()).locked[:2] == (True, True)

    run(test)


def test_consumer_takes_the_parcel_and_closes_or_walks_away() -> None:
    async def test(site: SimulatedSite, agent: StandInAgent) -> None:
        await Courier(site, BRISK).deposit("BADGE:C1", ["RR123456785CN", "LP00000001"])
        first = await Consumer(site, BRISK).pick_up("LNP:RR123456785CN")
        assert first.door == (0, 1) and first.taken == ["RR123456785CN"] and first.door_closed
        second = await Consumer(site, BRISK).pick_up("LNP:LP00000001", close_door=False)
        assert second.taken == ["LP00000001"] and not second.door_closed
        await eventually_async(lambda: site.compartment(0, 1).locked())
        status = await agent.status()
        assert status.locked[0] and not status.locked[1]  # the second door hangs open
        assert not any(status.occupied)

    run(test)


def test_consumer_with_an_unknown_code_sees_no_door_open() -> None:
    async def test(site: SimulatedSite, agent: StandInAgent) -> None:
        report = await Consumer(site, IMPATIENT).pick_up("LNP:NOT-HERE")
        assert report.door is None and report.taken == []
        assert agent.unlocks == []

    run(test)


def test_vandal_forces_doors_the_host_sees_open_and_forgeries_open_nothing() -> None:
    async def test(site: SimulatedSite, agent: StandInAgent) -> None:
        await Courier(site, BRISK).deposit("BADGE:C1", ["RR123456785CN"])
        vandal = Vandal(site, seed=1, pace=IMPATIENT)
        forgeries = await vandal.scan_forged(3)
        assert forgeries.opened_by_forgery == [] and agent.unlocks == [1]
        forced = await vandal.force_doors(16)
        assert len(forced.forced) == 16
        assert forced.stolen == {(0, 1): ["RR123456785CN"]}
        status = await agent.status()
        assert not any(status.locked)  # every door open, and only one unlock was ever sent
        assert agent.unlocks == [1]

    run(test)


def test_technician_repairs_faults_and_closes_doors_left_open() -> None:
    async def test(site: SimulatedSite, agent: StandInAgent) -> None:
        site.set_fault(FaultKind.DOOR_JAMMED, True, board=0, slot=1)
        site.set_fault(FaultKind.IR_STUCK, True, board=0, slot=5)
        site.set_fault(FaultKind.DOOR_FORCED, True, board=0, slot=9)
        report = await Technician(site, BRISK).service()
        assert {f["kind"] for f in report.repaired} == {"door_jammed", "ir_stuck"}
        assert report.closed == [(0, 9)]
        assert site.faults() == []
        await eventually_async(lambda: site.compartment(0, 9).locked())
        status = await agent.status()
        assert all(status.locked) and not any(status.occupied)

    run(test)


def test_courier_gives_up_when_no_door_opens() -> None:
    async def test(site: SimulatedSite, agent: StandInAgent) -> None:
        site.set_fault(FaultKind.LOCK_STUCK, True, board=0, slot=1)
        report = await Courier(site, IMPATIENT).deposit("BADGE:C1", ["RR123456785CN"])
        assert report.no_door == ["RR123456785CN"] and report.placed == {}
        assert agent.unlocks == [1]  # the agent tried; the lock did not let go
        assert await latched(agent, 1)

    run(test)
