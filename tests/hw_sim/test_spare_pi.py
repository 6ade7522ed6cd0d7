"""The spare Pi (hw_sim/field/spare_pi.py) played against the real parts: central's service places
parcels and reserves their slots, the site's Pi is swapped for one with a blank card and a
clock at 1970. The checks the simulator's verdict uses see the fault, then see central put it
right with no operator action: the reservations are at the site again and its time is right;
the courier's badge and labels are accepted and the parcels reach ready_for_pickup.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from central.broker import PrivateBroker
from central.parcels.steps import announce
from central.service.service import CentralService
from hw_sim.field.spare_pi import reservations_unknown_to_site, site_clock_off, swap_in_spare_pi
from hw_sim.people.people import Courier
from protocols.clock import SystemClock
from protocols.tokens import TokenSigner
from protocols.topics import Topics
from tests.central.central_rig import announcement, central_config, label, small_network
from tests.edge.rig import BRISK
from tests.edge.test_clock import WrongClockRig
from tests.eventually import eventually_async

pytestmark = [pytest.mark.broker, pytest.mark.pty]
SITE = "L0001"
TOLERANCE_S = 60.0


def test_a_spare_pi_at_1970_with_a_blank_card_is_put_right_by_central(
    tmp_path: Path, broker: PrivateBroker, topics: Topics
) -> None:
    (tmp_path / "central").mkdir()
    config = central_config(tmp_path / "central", broker, topics)
    central = CentralService(
        config, signer=TokenSigner.generate(), network=small_network(), clock=SystemClock()
    )
    central.start()
    rig = WrongClockRig(tmp_path / "site", broker, topics, site_id=SITE, signer=central.signer)
    parcels = [label(n) for n in (1, 2, 3)]

    async def scenario() -> tuple[list[str], str | None]:
        agent = await rig.start()
        try:
            with central.store.transaction() as session:
                for n in (1, 2, 3):
                    announce(session, announcement(n), time.time())

            def has_slots() -> bool:
                with central.store.transaction() as session:
                    return session.has_slots(SITE)

            await eventually_async(has_slots, 10, "the site's slots at central")
            assert central.reservations is not None
            central.reservations.place(parcels, time.time())
            await eventually_async(
                lambda: all(agent.store.read().expected(p) for p in parcels), 10, "reserved"
            )

            await agent.stop()
            swapped_at = time.time()
            swap_in_spare_pi(agent.store.path, rig.wall)
            spare = rig.agent = rig.new_agent()
            # The checks see the fault before the spare is online.
            unknown = reservations_unknown_to_site(central.store, SITE, spare, swapped_at)
            clock = site_clock_off(spare, time.time(), TOLERANCE_S)

            await spare.start()
            started = time.monotonic()
            await eventually_async(
                lambda: (
                    not reservations_unknown_to_site(central.store, SITE, spare, swapped_at)
                    and site_clock_off(spare, time.time(), TOLERANCE_S) is None
                ),
                10,
                "central's reservations and time at the spare",
            )
            print(
                f"the spare had central's reservations and time "
                f"{time.monotonic() - started:.2f} s after it started"
            )
            report = await Courier(rig.sim, BRISK).deposit(rig.badge(courier="K1"), parcels)
            assert sorted(report.placed) == parcels, report

            def ready() -> bool:
                with central.store.transaction() as session:
                    states = [session.get_parcel(p) for p in parcels]
                return all(s is not None and s.state == "ready_for_pickup" for s in states)

            await eventually_async(ready, 15, "the parcels ready for pickup at central")
            return unknown, clock
        finally:
            await rig.stop()

    try:
        unknown, clock = asyncio.run(scenario())
        assert unknown == parcels
        assert clock is not None and "from the true time" in clock
        assert rig.wall.offset < -1e9  # nothing but central's signed time set it right
    finally:
        central.stop()
