"""Issue 11, kinds 9 and 10: scanners as they behave in the field, end to end through the
agent (hw_sim devices on real ptys, a real broker, an independent observer).

Kind 10: a scanner whose line end or AIM identifier differs from the site's settings still
delivers every code; persistent garbage is a scanner fault. Kind 9: a presentation scanner's
re-reads of one code count once and never lock a site out; guessing still does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from edge.agent import SiteAgent
from hw_sim.devices.faults import FaultKind
from hw_sim.people.people import Consumer, Courier, Vandal
from protocols.messages import ScanRefusal, SlotState
from tests.edge.answers import openings, scan_opens_nothing
from tests.edge.rig import BRISK, Observer, SiteRig, labels
from tests.eventually import eventually, eventually_async

pytestmark = [pytest.mark.broker, pytest.mark.pty]


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


async def _deposit(rig: SiteRig, agent: SiteAgent, parcels: list[str]) -> dict[str, str]:
    slots = {parcel: await rig.reserve(parcel) for parcel in parcels}
    report = await Courier(rig.sim, BRISK).deposit(rig.badge(), parcels)
    assert sorted(report.placed) == sorted(parcels), report
    for slot in slots.values():
        await eventually_async(
            lambda slot=slot: agent.store.read().slot(slot).state is SlotState.OCCUPIED
        )
    return slots


async def _freed(agent: SiteAgent, slot: str) -> None:
    """The door shut on an empty compartment: the pickup is recorded."""
    await eventually_async(lambda: agent.store.read().slot(slot).state is SlotState.FREE)


# ------------------------------------------------------------------------------ kind 10


@pytest.mark.parametrize(("value", "sent"), [(1, "CR LF"), (2, "LF")])
def test_a_scanner_ending_lines_otherwise_than_the_site_is_set_deposits_every_label(
    tmp_path, broker, topics, value, sent
):
    """The site is set for CR (the default); the scanner sends CR LF (the issue's input) or
    LF alone. Before: the badge worked and every label after it was dropped as garbage."""
    parcels = labels(3, start=1100)

    async def body(rig: SiteRig, agent: SiteAgent) -> None:
        assert agent.config.scanner is not None and agent.config.scanner.suffix == "CR"
        rig.sim.set_fault(FaultKind.SCANNER_SUFFIX, True, value=value)
        slots = await _deposit(rig, agent, parcels)
        assert agent.scanner is not None
        assert agent.scanner.splitter.stats.garbage == 0
        code = rig.pickup_code(parcels[0])
        assert (await Consumer(rig.sim, BRISK).pick_up(code)).taken == [parcels[0]]
        await _freed(agent, slots[parcels[0]])

    observer = _run(tmp_path, broker, topics, body)
    try:
        eventually(lambda: len(observer.of_type("parcel_picked_up")) == 1, what="the pickup")
        assert sorted(e.payload.parcel for e in observer.of_type("parcel_deposited")) == parcels
        assert observer.of_type("scanner_fault") == [], sent
    finally:
        observer.close()


def test_an_aim_identifier_before_each_code_is_removed_with_stripping_off(tmp_path, broker, topics):
    """`]Q1` + the consumer's pickup code was refused as a bad label; `]C0` + each label
    and the badge likewise. Stripping is off (the default): the identifier is removed anyway."""
    (parcel,) = labels(1, start=1200)

    async def body(rig: SiteRig, agent: SiteAgent) -> None:
        assert agent.config.scanner is not None and not agent.config.scanner.strip_aim_id
        rig.sim.set_fault(FaultKind.SCANNER_AIM_ID, True)
        slots = await _deposit(rig, agent, [parcel])
        report = await Consumer(rig.sim, BRISK).pick_up(rig.pickup_code(parcel))
        assert report.taken == [parcel]
        assert report.door == (0, agent.slots[slots[parcel]].lock)
        await _freed(agent, slots[parcel])

    observer = _run(tmp_path, broker, topics, body)
    try:
        eventually(lambda: len(observer.of_type("parcel_picked_up")) == 1, what="the pickup")
        assert observer.of_type("scan_refused") == []
    finally:
        observer.close()


def test_garbage_that_persists_is_a_scanner_fault_cleared_by_the_next_good_read(
    tmp_path, broker, topics
):
    (parcel,) = labels(1, start=1300)

    async def body(rig: SiteRig, agent: SiteAgent) -> None:
        slots = await _deposit(rig, agent, [parcel])
        code = rig.pickup_code(parcel)
        rig.sim.set_fault(FaultKind.SCANNER_GARBAGE, True, value=12)  # one misread at once
        # A consumer tries twice more: each read comes out as noise. The agent answers no
        # noise on its screen; the sentinel is the fault the third misread raises.
        before = openings(rig.sim)
        for _ in range(2):
            rig.sim.scan(code)
        await eventually_async(
            lambda: ("scanner", "scanner", "garbage") in agent.faults, what="the garbage fault"
        )
        assert openings(rig.sim) == before
        rig.sim.set_fault(FaultKind.SCANNER_GARBAGE, False)  # the window wiped
        assert (await Consumer(rig.sim, BRISK).pick_up(code)).taken == [parcel]
        await eventually_async(lambda: ("scanner", "scanner", "garbage") not in agent.faults)
        await _freed(agent, slots[parcel])

    observer = _run(tmp_path, broker, topics, body)
    try:
        eventually(lambda: len(observer.of_type("fault_cleared")) == 1, what="the clearing")
        faults = observer.of_type("scanner_fault")
        assert [f.payload.fault.value for f in faults] == ["garbage"]
        assert observer.of_type("fault_cleared")[0].payload.code == "garbage"
        assert len(observer.of_type("parcel_picked_up")) == 1
    finally:
        observer.close()


# ------------------------------------------------------------------------------- kind 9


def test_re_reads_of_a_used_code_do_not_lock_out_the_next_consumer(tmp_path, broker, topics):
    """A consumer holds their phone in view: six re-reads about a second apart, first while
    their door is open, then after they shut it on an empty compartment. Before: five of
    them counted as failures and the next consumer was locked out for five minutes."""
    first, second = labels(2, start=1400)
    rereads = 6

    async def body(rig: SiteRig, agent: SiteAgent) -> None:
        slots = await _deposit(rig, agent, [first, second])
        first_lock = agent.slots[slots[first]].lock
        rig.sim.set_fault(FaultKind.SCANNER_REREADS, True, value=rereads)
        shown = rig.sim.scanner.codes_sent
        report = await Consumer(rig.sim, BRISK).pick_up(rig.pickup_code(first), close_door=False)
        assert report.taken == [first]
        door = rig.sim.compartment(0, first_lock)
        opened = door.openings  # the deposit's and this pickup's
        # Two re-reads while the door stands open: it is not opened again, nothing refused.
        await eventually_async(lambda: rig.sim.scanner.codes_sent >= shown + 3, 10)
        await eventually_async(lambda: agent.scans_handled >= agent.scan_lockout.stats.repeats)
        assert door.openings == opened
        assert agent.scan_lockout.stats.repeats >= 1
        assert door.close_door()
        await eventually_async(lambda: rig.sim.scanner.codes_sent == shown + 1 + rereads, 10)
        await _freed(agent, slots[first])
        rig.sim.set_fault(FaultKind.SCANNER_REREADS, False)
        # The next consumer, at once.
        report = await Consumer(rig.sim, BRISK).pick_up(rig.pickup_code(second))
        assert report.taken == [second]
        await _freed(agent, slots[second])
        assert not agent.scan_lockout.locked_out(agent.clock.monotonic())
        assert door.openings == opened

    observer = _run(tmp_path, broker, topics, body)
    try:
        eventually(lambda: len(observer.of_type("parcel_picked_up")) == 2, what="both pickups")
        assert observer.of_type("scanner_locked_out") == []
        # At most one refusal for the whole burst (a used code, which is never counted).
        refused = [e.payload.reason for e in observer.of_type("scan_refused")]
        assert refused in ([], [ScanRefusal.ALREADY_USED]), refused
        assert len([e for e in observer.of_type("door_opened")]) == 4  # 2 deposits, 2 pickups
    finally:
        observer.close()


def test_a_label_re_read_after_its_deposit_neither_opens_a_door_nor_counts(
    tmp_path, broker, topics
):
    """Another member of the kind: the courier's last label stays in view after the door
    shut on it. The re-read is refused ("already in"), once, and counts toward nothing."""
    (parcel,) = labels(1, start=1500)

    async def body(rig: SiteRig, agent: SiteAgent) -> None:
        rig.sim.set_fault(FaultKind.SCANNER_REREADS, True, value=3)
        shown = rig.sim.scanner.codes_sent
        await _deposit(rig, agent, [parcel])
        await eventually_async(lambda: rig.sim.scanner.codes_sent == shown + 2 + 3, 10)
        assert agent.scanner is not None
        splitter = agent.scanner.splitter
        await eventually_async(lambda: agent.scans_handled == splitter.stats.codes)
        assert agent.scan_lockout.stats.counted == 0
        assert sum(c.openings for c in rig.sim.compartments()) == 1

    observer = _run(tmp_path, broker, topics, body)
    try:
        eventually(lambda: len(observer.of_type("parcel_deposited")) == 1, what="the deposit")
        refused = observer.of_type("scan_refused")
        assert len(refused) <= 1
        assert all(e.payload.reason is ScanRefusal.UNKNOWN_LABEL for e in refused)
        assert observer.of_type("scanner_locked_out") == []
    finally:
        observer.close()


def test_ten_forged_codes_still_lock_the_scanner_out(tmp_path, broker, topics):
    (parcel,) = labels(1, start=1600)

    async def body(rig: SiteRig, agent: SiteAgent) -> None:
        await _deposit(rig, agent, [parcel])
        vandal = Vandal(rig.sim, seed=11)
        for _ in range(10):
            await scan_opens_nothing(agent, rig.sim, vandal.forged_code())
        await eventually_async(lambda: agent.scans_handled >= 12, what="every scan")
        assert agent.scan_lockout.locked_out(agent.clock.monotonic())
        # While locked out even a real code is refused unread: the lockout still holds.
        await scan_opens_nothing(agent, rig.sim, rig.pickup_code(parcel))

    observer = _run(tmp_path, broker, topics, body, **{"timing.scan_failures_before_lockout": 5})
    try:
        eventually(lambda: len(observer.of_type("scan_refused")) == 11, what="the refusals")
        lockouts = observer.of_type("scanner_locked_out")
        assert len(lockouts) == 1 and lockouts[0].payload.failures == 5
        reasons = [e.payload.reason for e in observer.of_type("scan_refused")]
        assert reasons[5:] == [ScanRefusal.LOCKED_OUT] * 6
    finally:
        observer.close()
