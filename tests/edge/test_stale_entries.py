"""Entries a site keeps for parcels that are gone: removal orders for parcels collected
offline, reservations that arrive after their parcel, and what an older agent left behind.
Real agent, devices on ptys, a real broker; the observer sees what central would see."""

from __future__ import annotations

import asyncio

import pytest

from edge.agent import SiteAgent
from hw_sim.people.people import Consumer, Courier
from protocols.messages import MarkForRemoval, RemovalReason, ReserveSlot, SizeClass, SlotState
from tests.edge.rig import BRISK, Observer, SiteRig, labels
from tests.eventually import eventually_async

pytestmark = [pytest.mark.broker, pytest.mark.pty]


async def _deposit(rig: SiteRig, agent: SiteAgent, parcels: list[str]) -> None:
    for parcel in parcels:
        await rig.reserve(parcel)
    report = await Courier(rig.sim, BRISK).deposit(rig.badge(), parcels)
    assert sorted(report.placed) == sorted(parcels)
    await eventually_async(
        lambda: all(agent.store.read().slot_holding(p) for p in parcels), what="deposits"
    )


async def _pick_up(rig: SiteRig, agent: SiteAgent, parcel: str) -> None:
    report = await Consumer(rig.sim, BRISK).pick_up(rig.pickup_code(parcel))
    assert report.taken == [parcel]
    await eventually_async(lambda: agent.store.read().slot_holding(parcel) is None, what="pickup")


def _run(tmp_path, broker, topics, body) -> Observer:
    observer = Observer(broker, topics, "L0001")

    async def scenario() -> None:
        rig = SiteRig(tmp_path, broker, topics)
        agent = await rig.start()
        try:
            await body(rig, agent, observer)
        finally:
            await rig.stop()

    asyncio.run(scenario())
    return observer


def test_a_removal_order_for_parcels_collected_offline_keeps_no_entry_and_says_which(
    tmp_path, broker, topics
):
    gone, there, never = labels(3)

    async def body(rig: SiteRig, agent: SiteAgent, observer: Observer) -> None:
        await _deposit(rig, agent, [gone, there])
        await _pick_up(rig, agent, gone)  # collected while central expired it
        order = rig.command(
            MarkForRemoval(parcels=[gone, there, never], reason=RemovalReason.EXPIRED)
        )
        observer.send(rig.signed(order))
        await eventually_async(lambda: observer.reply_to(order.id) is not None, 10, "reply")
        reply = observer.reply_to(order.id)
        assert reply is not None and reply.ok
        assert reply.result == {"marked": 1, "not_here": sorted([gone, never])}
        assert agent.store.read().removals() == [there]
        # The returns courier takes the one that is there; nothing is left behind.
        courier = Courier(rig.sim, BRISK)
        await courier.scan(rig.badge("returns-1"), "]Q1")
        door = await courier.scan_and_wait(there, "]C0")
        assert door is not None
        door.take(there)
        assert door.close_door()
        await eventually_async(lambda: observer.of_type("parcel_removed"), 10, "removal")
        assert agent.store.read().removals() == []

    _run(tmp_path, broker, topics, body).close()


def test_a_parcel_collected_after_its_removal_was_ordered_leaves_no_entry(tmp_path, broker, topics):
    (parcel,) = labels(1, start=10)

    async def body(rig: SiteRig, agent: SiteAgent, observer: Observer) -> None:
        await _deposit(rig, agent, [parcel])
        order = rig.command(MarkForRemoval(parcels=[parcel], reason=RemovalReason.EXPIRED))
        await agent.handle_command_payload(rig.signed(order))
        assert agent.store.read().removals() == [parcel]
        await _pick_up(rig, agent, parcel)  # the consumer's code still worked at the site
        assert agent.store.read().removals() == []

    _run(tmp_path, broker, topics, body).close()


def test_entries_an_older_agent_left_for_parcels_gone_are_cleared_at_start(
    tmp_path, broker, topics
):
    held, expected, *stale = labels(117, start=20)

    async def scenario() -> None:
        rig = SiteRig(tmp_path, broker, topics)
        agent = await rig.start()
        try:
            await _deposit(rig, agent, [held])
            await rig.reserve(expected)
            now = rig.clock.now()
            with agent.store.transaction() as tx:  # what the field's older agent kept
                for parcel in [held, expected, *stale]:
                    tx.mark_for_removal(parcel, RemovalReason.EXPIRED.value, now)
            await agent.stop()
            rig.agent = agent = rig.new_agent()
            await agent.start()
            await eventually_async(lambda: len(agent.store.read().removals()) == 2, 10, "the sweep")
            assert sorted(agent.store.read().removals()) == sorted([held, expected])
        finally:
            await rig.stop()

    asyncio.run(scenario())


def test_a_reservation_that_arrives_after_its_parcel_holds_no_slot(tmp_path, broker, topics):
    deposited, collected = labels(2, start=200)

    async def body(rig: SiteRig, agent: SiteAgent, observer: Observer) -> None:
        await _deposit(rig, agent, [deposited, collected])
        # Central's resends, issued before the pickup and delivered after it (late).
        orders = [
            rig.command(ReserveSlot(parcel=p, size=SizeClass.M, until=rig.clock.now() + 3600))
            for p in (deposited, collected)
        ]
        await _pick_up(rig, agent, collected)
        free_before = _free(agent)
        replies = []
        for order in orders:
            observer.send(rig.signed(order))
            command_id = order.id
            await eventually_async(lambda c=command_id: observer.reply_to(c) is not None, 10)
            replies.append(observer.reply_to(command_id))
        first, second = replies
        assert first is not None and second is not None
        holding = agent.store.read().slot_holding(deposited)
        assert holding is not None
        assert first.ok and first.result == {"slot": holding.id, "deposited": True}
        assert not second.ok and second.reason is not None
        assert second.reason.value == "unknown_parcel"
        assert _free(agent) == free_before
        assert agent.store.read().expected(deposited) is None
        assert agent.store.read().expected(collected) is None

    _run(tmp_path, broker, topics, body).close()


def _free(agent: SiteAgent) -> int:
    return sum(1 for s in agent.store.read().slots() if s.state is SlotState.FREE)
