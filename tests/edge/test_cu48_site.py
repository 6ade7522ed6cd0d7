"""A site on Kerong CU48 boards runs end to end: a real agent over the simulated CU48 bus,
a private broker, a deposit and a pickup (the family added as a plug-in, hardware.md §6)."""

from __future__ import annotations

import argparse
import asyncio

import pytest

from hw_sim.devices.cli import config_from, register
from hw_sim.devices.site import SimulatedSite
from hw_sim.devices.site import SiteConfig as SimConfig
from hw_sim.people.people import Consumer, Courier
from protocols.boards import BoardFamily
from protocols.clock import ManualClock
from protocols.messages import SlotState
from tests.edge.rig import BRISK, Observer, SiteRig, labels
from tests.eventually import eventually_async

pytestmark = [pytest.mark.broker]


def test_a_cu48_site_takes_a_deposit_and_a_pickup(tmp_path, broker, topics):
    observer = Observer(broker, topics, "L0001")
    sim_config = SimConfig(profile="cu48", boards=2)
    # Locks far apart on both boards: bit order and the second board's address both count.
    slots = [
        {"id": "A09", "board": 0, "lock": 9, "size": "M"},
        {"id": "A48", "board": 0, "lock": 48, "size": "M"},
        {"id": "B17", "board": 1, "lock": 17, "size": "M"},
    ]
    overrides = {f"lock_bus.{key}": value for key, value in sim_config.lock_bus_keys().items()}
    overrides["slots"] = slots

    async def scenario() -> None:
        rig = SiteRig(tmp_path, broker, topics, overrides=overrides)
        rig.sim = SimulatedSite(rig.clock, sim_config)
        agent = await rig.start()
        try:
            assert agent.driver is not None and agent.driver.family is BoardFamily.CU48
            for parcel in labels(3):
                reserved = await rig.reserve(parcel)
                report = await Courier(rig.sim, BRISK).deposit(rig.badge(), [parcel])
                assert parcel in report.placed, report
                await eventually_async(
                    lambda slot=reserved: agent.store.read().slot(slot).state is SlotState.OCCUPIED,
                    what=f"the deposit in {reserved} confirmed by the CU48's door and IR bits",
                )
                pickup = await Consumer(rig.sim, BRISK).pick_up(rig.pickup_code(parcel))
                assert pickup.taken == [parcel]
                await eventually_async(
                    lambda slot=reserved: agent.store.read().slot(slot).state is SlotState.FREE,
                    what=f"the pickup from {reserved} confirmed",
                )
            await eventually_async(lambda: agent.store.pending_count() == 0, what="outbox drain")
        finally:
            await rig.stop()

    asyncio.run(scenario())
    try:
        assert len(observer.of_type("parcel_deposited")) == 3
        assert len(observer.of_type("parcel_picked_up")) == 3
    finally:
        observer.close()


def test_hwsim_serves_a_cu48_profile_by_name():
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["hwsim", "--profile", "cu48", "--boards", "3", "--dir", "x"])
    config = config_from(args)
    site = SimulatedSite(ManualClock(), config)
    assert config.profile is BoardFamily.CU48 and site.board_ids == [0, 1, 2]
    assert site.locks.baud == 19200 and len(site.board(2).compartments) == 48
