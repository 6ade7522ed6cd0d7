"""Courier and consumer flows end to end: the real agent, hw_sim devices on real ptys, a real
broker, and events checked by an independent subscriber."""

from __future__ import annotations

import asyncio

import pytest

from hw_sim.devices.site import LABEL_SYMBOLOGY
from hw_sim.people.people import Consumer, Courier
from protocols.messages import ScanRefusal, SlotState
from tests.edge.answers import scan_answered, scan_opens_nothing
from tests.edge.rig import BRISK, Observer, SiteRig, labels
from tests.eventually import eventually_async

pytestmark = [pytest.mark.broker, pytest.mark.pty]


def test_deposit_then_pickup_reaches_the_broker(tmp_path, broker, topics):
    observer = Observer(broker, topics, "L0001")

    async def scenario() -> None:
        rig = SiteRig(tmp_path, broker, topics)
        agent = await rig.start()
        try:
            (parcel,) = labels(1)
            reserved = await rig.reserve(parcel)
            report = await Courier(rig.sim, BRISK).deposit(rig.badge(), [parcel])
            assert parcel in report.placed, report
            # The screen names the door it opened for the label: the reserved one. (The door
            # springs open as the unlock lands; the screen is written once the agent has
            # read the release back, a moment later: wait for it, do not race it.)
            await eventually_async(
                lambda: agent.door_opened_for(parcel) is not None, what="the screen's line"
            )
            assert agent.door_opened_for(parcel) == reserved
            await eventually_async(
                lambda: agent.store.read().slot(reserved).state is SlotState.OCCUPIED,
                what="the deposit to be confirmed by the door and IR sensor",
            )
            code = rig.pickup_code(parcel)
            pickup = await Consumer(rig.sim, BRISK).pick_up(code)
            assert pickup.taken == [parcel]
            await eventually_async(
                lambda: agent.door_opened_for(code) is not None, what="the screen's line"
            )
            assert agent.door_opened_for(code) == reserved
            await eventually_async(
                lambda: agent.store.read().slot(reserved).state is SlotState.FREE,
                what="the pickup to be confirmed",
            )
            await eventually_async(lambda: agent.store.pending_count() == 0, what="outbox drain")
        finally:
            await rig.stop()

    asyncio.run(scenario())
    try:
        deposited = observer.of_type("parcel_deposited")
        picked = observer.of_type("parcel_picked_up")
        assert len(deposited) == 1 and deposited[0].payload.reserved
        assert len(picked) == 1 and picked[0].payload.parcel == deposited[0].payload.parcel
        seqs = [e.seq for e in observer.events]
        assert seqs == sorted(seqs) == list(range(1, len(seqs) + 1))
        assert observer.types() == [
            "door_opened",
            "door_closed",
            "parcel_deposited",
            "door_opened",
            "door_closed",
            "parcel_picked_up",
        ]
        assert b'"online":false' in observer.retained["status"]  # said goodbye on stop
        assert "state" in observer.retained
    finally:
        observer.close()


def test_unknown_and_malformed_labels_open_nothing(tmp_path, broker, topics):
    observer = Observer(broker, topics, "L0001")

    async def scenario() -> None:
        rig = SiteRig(tmp_path, broker, topics)
        agent = await rig.start()
        try:
            # A courier's badge, then two labels: the screen answers each scan (the
            # sentinel), names no door, and no door opened.
            await scan_answered(agent, rig.sim, rig.badge())
            for parcel in ["RR123456784CN", labels(1)[0]]:
                await scan_opens_nothing(agent, rig.sim, parcel, LABEL_SYMBOLOGY)
            assert all(not c.door_open() and c.openings == 0 for c in rig.sim.compartments())
            assert agent.scans_handled == 3
            assert all(line.slot is None for line in agent.screen), agent.screen
            assert agent.door_opened_for(labels(1)[0]) is None
        finally:
            await rig.stop()

    asyncio.run(scenario())
    try:
        reasons = [e.payload.reason for e in observer.of_type("scan_refused")]
        assert reasons == [ScanRefusal.BAD_LABEL, ScanRefusal.UNKNOWN_LABEL]
    finally:
        observer.close()
