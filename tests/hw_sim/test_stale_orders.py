"""hw_sim's stale removal orders, played against a real site: nothing is kept for parcels
that are gone, and what the site holds still gets its courier."""

from __future__ import annotations

import asyncio

import pytest

from hw_sim.field.stale_orders import late_removal_order, plant_stale_removals, stale_removals
from hw_sim.people.people import Consumer, Courier
from tests.edge.rig import BRISK, SiteRig, labels
from tests.eventually import eventually_async

pytestmark = [pytest.mark.broker, pytest.mark.pty]


def test_planted_and_late_removal_entries_for_parcels_gone_do_not_stay(tmp_path, broker, topics):
    collected, waiting = labels(2, start=500)

    async def scenario() -> None:
        rig = SiteRig(tmp_path, broker, topics)
        agent = await rig.start()
        try:
            for parcel in (collected, waiting):
                await rig.reserve(parcel)
            placed = await Courier(rig.sim, BRISK).deposit(rig.badge(), [collected, waiting])
            assert sorted(placed.placed) == sorted([collected, waiting])
            await eventually_async(lambda: agent.store.read().slot_holding(waiting) is not None)
            taken = await Consumer(rig.sim, BRISK).pick_up(rig.pickup_code(collected))
            assert taken.taken == [collected]
            await eventually_async(lambda: agent.store.read().slot_holding(collected) is None)

            await late_removal_order(agent, rig.signer, [collected, waiting])
            assert agent.store.read().removals() == [waiting]
            planted = plant_stale_removals(agent, 115)
            assert len(stale_removals(agent)) == 115 and set(stale_removals(agent)) == set(planted)
            # The sweep runs with the site's timers: on a new agent's first tick.
            await agent.stop()
            rig.agent = agent = rig.new_agent()
            await agent.start()
            await eventually_async(lambda: not stale_removals(agent), 10, "the sweep")
            assert agent.store.read().removals() == [waiting]  # the one that is there stays
        finally:
            await rig.stop()

    asyncio.run(scenario())
