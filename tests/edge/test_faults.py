"""Every hw_sim fault, as the agent meets it: it retries, raises the right fault, never opens
a wrong door, and recovers when the fault clears. Devices on real ptys, a real broker."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from edge.agent import SiteAgent
from hw_sim.devices.faults import FaultKind
from hw_sim.people.people import Consumer, Courier
from protocols.messages import SlotState
from tests.edge.answers import scan_answered, scan_opens_nothing
from tests.edge.rig import BRISK, Observer, SiteRig, labels
from tests.eventually import eventually_async

pytestmark = [pytest.mark.broker, pytest.mark.pty]


async def _deposit(rig: SiteRig, agent: SiteAgent, parcel: str) -> tuple[str, int]:
    slot = await rig.reserve(parcel)
    report = await Courier(rig.sim, BRISK).deposit(rig.badge(), [parcel])
    assert parcel in report.placed
    await eventually_async(lambda: agent.store.read().slot(slot).state is SlotState.OCCUPIED)
    return slot, agent.slots[slot].lock


def _openings(rig: SiteRig) -> dict[int, int]:
    return {c.slot: c.openings for c in rig.sim.compartments()}


def _run(
    tmp_path, broker, topics, body: Callable[[SiteRig, SiteAgent], Awaitable[None]], **overrides
) -> Observer:
    observer = Observer(broker, topics, "L0001")

    async def scenario() -> None:
        rig = SiteRig(tmp_path, broker, topics, overrides=overrides)
        agent = await rig.start()
        try:
            await body(rig, agent)
            await eventually_async(lambda: agent.store.pending_count() == 0, what="drain")
        finally:
            await rig.stop()

    asyncio.run(scenario())
    return observer


@pytest.mark.parametrize(
    ("fault", "value"),
    [
        (FaultKind.NO_REPLY, None),
        (FaultKind.CORRUPT_REPLY, None),
        (FaultKind.DROP_BYTES, 2),
        (FaultKind.SLOW_REPLY, 2.0),
        (FaultKind.POWER_LOSS, None),
    ],
)
def test_a_board_that_stops_answering_is_a_board_fault_until_it_answers_again(
    tmp_path, broker, topics, fault, value
):
    parcel = labels(1, start=100)[0]

    async def body(rig: SiteRig, agent: SiteAgent) -> None:
        slot, lock = await _deposit(rig, agent, parcel)
        retries_before = agent.driver.bus.stats.retries
        rig.sim.set_fault(fault, True, board=0, value=value)
        await eventually_async(lambda: 0 in agent.boards_down, what="the board fault")
        assert agent.driver.bus.stats.retries > retries_before  # it tried again first
        before = _openings(rig)
        code = rig.pickup_code(parcel)
        await scan_opens_nothing(agent, rig.sim, code)
        assert _openings(rig) == before
        rig.sim.set_fault(fault, False, board=0)
        await eventually_async(lambda: 0 not in agent.boards_down, what="recovery")
        report = await Consumer(rig.sim, BRISK).pick_up(code)
        assert report.door == (0, lock) and report.taken == [parcel]
        await eventually_async(lambda: agent.store.read().slot(slot).state is SlotState.FREE)

    observer = _run(tmp_path, broker, topics, body)
    try:
        faults = observer.of_type("board_fault")
        assert len(faults) == 1 and faults[0].payload.fault.value == "no_reply"
        cleared = observer.of_type("fault_cleared")
        assert [c.payload.component.value for c in cleared] == ["board"]
        assert len(observer.of_type("parcel_picked_up")) == 1
    finally:
        observer.close()


@pytest.mark.parametrize(
    ("fault", "value"), [(FaultKind.LINE_NOISE, 6), (FaultKind.SLOW_REPLY, 0.1)]
)
def test_noise_and_slow_but_timely_replies_are_ridden_out(tmp_path, broker, topics, fault, value):
    parcel = labels(1, start=200)[0]

    async def body(rig: SiteRig, agent: SiteAgent) -> None:
        slot, lock = await _deposit(rig, agent, parcel)
        rig.sim.set_fault(fault, True, board=0, value=value)
        report = await Consumer(rig.sim, BRISK).pick_up(rig.pickup_code(parcel))
        assert report.door == (0, lock) and report.taken == [parcel]
        await eventually_async(lambda: agent.store.read().slot(slot).state is SlotState.FREE)
        if fault is FaultKind.LINE_NOISE:
            assert agent.driver.bus.reassembler.stats.discarded_bytes > 0

    observer = _run(tmp_path, broker, topics, body)
    try:
        assert observer.of_type("board_fault") == []
        assert len(observer.of_type("parcel_picked_up")) == 1
    finally:
        observer.close()


def test_a_lock_that_will_not_release_is_a_lock_fault_and_opens_nothing(tmp_path, broker, topics):
    parcel = labels(1, start=300)[0]

    async def body(rig: SiteRig, agent: SiteAgent) -> None:
        slot, lock = await _deposit(rig, agent, parcel)
        rig.sim.set_fault(FaultKind.LOCK_STUCK, True, board=0, slot=lock)
        before = _openings(rig)
        code = rig.pickup_code(parcel)
        await scan_opens_nothing(agent, rig.sim, code)
        assert _openings(rig) == before
        assert agent.store.read().slot(slot).state is SlotState.FAULT
        # Fixed: the consumer's next scan is the test of the lock, and it works.
        rig.sim.set_fault(FaultKind.LOCK_STUCK, False, board=0, slot=lock)
        report = await Consumer(rig.sim, BRISK).pick_up(code)
        assert report.door == (0, lock) and report.taken == [parcel]
        await eventually_async(lambda: agent.store.read().slot(slot).state is SlotState.FREE)

    observer = _run(tmp_path, broker, topics, body)
    try:
        faults = observer.of_type("lock_fault")
        assert len(faults) == 1 and faults[0].payload.fault.value == "lock_wont_release"
        assert [c.payload.component.value for c in observer.of_type("fault_cleared")] == ["lock"]
        assert len(observer.of_type("parcel_picked_up")) == 1
    finally:
        observer.close()


def test_a_jammed_door_is_reported_and_the_parcel_stays_safe(tmp_path, broker, topics):
    parcel = labels(1, start=400)[0]

    async def body(rig: SiteRig, agent: SiteAgent) -> None:
        slot, lock = await _deposit(rig, agent, parcel)
        rig.sim.set_fault(FaultKind.DOOR_JAMMED, True, board=0, slot=lock)
        code = rig.pickup_code(parcel)
        # The lock releases (the screen names the slot) but the door does not move.
        assert (await scan_answered(agent, rig.sim, code)).opened == []
        await eventually_async(lambda: agent.store.read().slot(slot).state is SlotState.OCCUPIED)
        rig.sim.set_fault(FaultKind.DOOR_JAMMED, False, board=0, slot=lock)
        report = await Consumer(rig.sim, BRISK).pick_up(code)  # the code still works
        assert report.taken == [parcel]
        await eventually_async(lambda: agent.store.read().slot(slot).state is SlotState.FREE)

    observer = _run(tmp_path, broker, topics, body)
    try:
        jams = observer.of_type("lock_fault")
        assert len(jams) == 1 and "jammed" in (jams[0].payload.detail or "")
        assert len(observer.of_type("parcel_picked_up")) == 1
    finally:
        observer.close()


def test_a_door_left_open_raises_an_alarm_and_the_pickup_completes_when_shut(
    tmp_path, broker, topics
):
    parcel = labels(1, start=500)[0]

    async def body(rig: SiteRig, agent: SiteAgent) -> None:
        slot, lock = await _deposit(rig, agent, parcel)
        rig.sim.set_fault(FaultKind.DOOR_LEFT_OPEN, True, board=0, slot=lock)
        report = await Consumer(rig.sim, BRISK).pick_up(rig.pickup_code(parcel))
        assert report.taken == [parcel] and not report.door_closed
        await eventually_async(
            lambda: (
                agent.store.read().slot(slot).state is SlotState.OPEN_FOR_PICKUP
                and any(d.left_open_reported for d in agent.open_doors.values())
            ),
            what="the left-open alarm",
        )
        rig.sim.set_fault(FaultKind.DOOR_LEFT_OPEN, False, board=0, slot=lock)
        assert rig.sim.compartment(0, lock).close_door()
        await eventually_async(lambda: agent.store.read().slot(slot).state is SlotState.FREE)

    observer = _run(tmp_path, broker, topics, body, **{"timing.door_left_open_s": 0.5})
    try:
        assert len(observer.of_type("door_left_open")) == 1
        assert len(observer.of_type("parcel_picked_up")) == 1
    finally:
        observer.close()


def test_a_door_forced_open_is_an_alarm_and_a_vanished_parcel_a_sensor_fault(
    tmp_path, broker, topics
):
    parcel = labels(1, start=600)[0]

    async def body(rig: SiteRig, agent: SiteAgent) -> None:
        slot, lock = await _deposit(rig, agent, parcel)
        rig.sim.set_fault(FaultKind.DOOR_FORCED, True, board=0, slot=lock)
        compartment = rig.sim.compartment(0, lock)
        await eventually_async(lambda: slot in agent.forced, what="the forced door")
        compartment.take()  # the thief takes the parcel
        assert compartment.close_door()
        await eventually_async(lambda: agent.store.read().slot(slot).state is SlotState.FAULT)

    observer = _run(tmp_path, broker, topics, body)
    try:
        assert len(observer.of_type("door_forced")) == 1
        faults = observer.of_type("sensor_fault")
        assert len(faults) == 1 and faults[0].payload.fault.value == "ir_mismatch"
        assert observer.of_type("parcel_picked_up") == []
    finally:
        observer.close()


def test_a_stuck_ir_sensor_takes_the_slot_out_of_use_until_it_reads_true(tmp_path, broker, topics):
    async def body(rig: SiteRig, agent: SiteAgent) -> None:
        rig.sim.set_fault(FaultKind.IR_STUCK, True, board=0, slot=1, value=1)
        await eventually_async(lambda: agent.store.read().slot("A01").state is SlotState.FAULT)
        # A parcel for an S slot now goes elsewhere, never into A01.
        parcel = labels(1, start=700)[0]
        slot = await rig.reserve(parcel, size="S")
        assert slot != "A01"
        rig.sim.set_fault(FaultKind.IR_STUCK, False, board=0, slot=1)
        await eventually_async(lambda: agent.store.read().slot("A01").state is SlotState.FREE)

    observer = _run(tmp_path, broker, topics, body)
    try:
        faults = observer.of_type("sensor_fault")
        assert [f.payload.slot for f in faults] == ["A01"]
        assert [c.payload.component.value for c in observer.of_type("fault_cleared")] == ["sensor"]
    finally:
        observer.close()


def test_an_unplugged_scanner_is_a_fault_and_works_again_when_plugged_back(
    tmp_path, broker, topics
):
    parcel = labels(1, start=800)[0]

    async def body(rig: SiteRig, agent: SiteAgent) -> None:
        _slot, lock = await _deposit(rig, agent, parcel)
        rig.sim.set_fault(FaultKind.SCANNER_UNPLUGGED, True)
        await eventually_async(lambda: not agent.scanner.status.connected, what="unplugged")
        rig.sim.set_fault(FaultKind.SCANNER_UNPLUGGED, False)
        await eventually_async(lambda: agent.scanner.status.connected, 15, "plugged back")
        report = await Consumer(rig.sim, BRISK).pick_up(rig.pickup_code(parcel))
        assert report.door == (0, lock)

    observer = _run(tmp_path, broker, topics, body)
    try:
        faults = observer.of_type("scanner_fault")
        assert len(faults) == 1 and faults[0].payload.fault.value == "unplugged"
        assert [c.payload.component.value for c in observer.of_type("fault_cleared")] == ["scanner"]
    finally:
        observer.close()


def test_scanner_garbage_opens_nothing_and_good_scans_still_work(tmp_path, broker, topics):
    parcel = labels(1, start=900)[0]

    async def body(rig: SiteRig, agent: SiteAgent) -> None:
        slot, lock = await _deposit(rig, agent, parcel)
        before = _openings(rig)
        rig.sim.set_fault(FaultKind.SCANNER_GARBAGE, True, value=12)
        await eventually_async(lambda: agent.scanner.splitter.stats.garbage > 0, what="garbage")
        assert _openings(rig) == before
        rig.sim.set_fault(FaultKind.SCANNER_GARBAGE, False)
        report = await Consumer(rig.sim, BRISK).pick_up(rig.pickup_code(parcel))
        assert report.door == (0, lock)
        await eventually_async(lambda: agent.store.read().slot(slot).state is SlotState.FREE)

    observer = _run(tmp_path, broker, topics, body)
    try:
        assert len(observer.of_type("parcel_picked_up")) == 1
    finally:
        observer.close()
