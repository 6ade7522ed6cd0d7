"""A site whose clock is off learns the time from central (issue 11, kind 3).

End to end: a spare Pi booted at 1970 on a fresh store (no witnessed time at all) connects;
central sees its state stamped 1970 and sends it a signed time at once, so the courier's
valid badge is accepted and the parcel deposited, with no operator action. Central-side: what
counts as a clock that is off (a live snapshot unsure or stamped far off, a heartbeat's
offset), what does not (a retained snapshot replayed), and the rate limit per site.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from central.broker import PrivateBroker
from central.parcels.steps import announce
from central.service.config import IngestConfig, LivenessConfig, PickupConfig
from central.service.service import CentralService
from central.sites.ingest import Delivery, Ingest
from central.sites.site_events import EventEffects
from central.store import SqliteStore
from hw_sim.people.people import Courier
from protocols.clock import SystemClock
from protocols.messages import Heartbeat, StateSnapshot, encode
from protocols.tokens import TokenSigner
from protocols.topics import SiteChannel, Topics
from tests.central.central_rig import announcement, central_config, label, small_network, snapshot
from tests.central.test_ingest import NOW, TOPICS, open_store
from tests.edge.rig import BRISK
from tests.edge.test_clock import WrongClockRig
from tests.eventually import eventually_async

SITE = "L0001"
# The test's send interval (a minute in the field: liveness.time_send_interval_s).
SEND_EVERY_S = 60.0


@pytest.fixture
def central(tmp_path: Path, broker: PrivateBroker, topics: Topics) -> Iterator[CentralService]:
    (tmp_path / "central").mkdir()
    config = central_config(tmp_path / "central", broker, topics)
    service = CentralService(
        config, signer=TokenSigner.generate(), network=small_network(), clock=SystemClock()
    )
    service.start()
    yield service
    service.stop()


@pytest.mark.broker
@pytest.mark.pty
def test_a_spare_pi_at_1970_on_a_fresh_store_takes_a_courier_badge_soon_after_it_connects(
    tmp_path: Path, broker: PrivateBroker, topics: Topics, central: CentralService
) -> None:
    rig = WrongClockRig(tmp_path / "site", broker, topics, site_id=SITE, signer=central.signer)
    rig.wall.boot_at_1970()  # no real-time clock, no NTP, and a store with no witnessed time

    async def scenario() -> float:
        agent = await rig.start()
        try:
            await eventually_async(lambda: agent.link.connected, 10, "the site online")
            connected = time.monotonic()
            # Before any reservation or operator command: central's signed time alone.
            await eventually_async(
                lambda: abs(agent.clock.now() - time.time()) < 60, 10, "the site's time right"
            )
            took = time.monotonic() - connected
            sent = [c.type for c in central.store_commands(SITE)]
            assert sent and set(sent) == {"resend_state"}, sent

            with central.store.transaction() as session:
                announce(session, announcement(1), time.time())
            assert central.reservations is not None
            central.reservations.place([label(1)], time.time())
            await eventually_async(
                lambda: agent.store.read().expected(label(1)) is not None, 10, "the reservation"
            )
            report = await Courier(rig.sim, BRISK).deposit(rig.badge(courier="K1"), [label(1)])
            assert list(report.placed) == [label(1)], report

            def ready() -> bool:
                with central.store.transaction() as session:
                    record = session.get_parcel(label(1))
                return record is not None and record.state == "ready_for_pickup"

            await eventually_async(ready, 10, "the parcel ready for pickup at central")
            return took
        finally:
            await rig.stop()

    took = asyncio.run(scenario())
    print(f"a site at 1970 on a fresh store had central's time {took:.2f} s after connecting")
    assert rig.wall.offset < -1e9  # its wall clock still reads 1970: nothing else fixed it


# ------------------------------------------------------------------------- central side


def make_ingest(store: SqliteStore) -> Ingest:
    return Ingest(
        store,
        TOPICS,
        EventEffects(PickupConfig()),
        IngestConfig(),
        liveness=LivenessConfig(time_send_interval_s=SEND_EVERY_S),
    )


def state_of(state: StateSnapshot, *, retained: bool = False) -> Delivery:
    return Delivery(TOPICS.site(SITE, SiteChannel.STATE), encode(state), retained=retained)


def beat(at: float) -> Delivery:
    payload = Heartbeat(site=SITE, boot_id="boot1", at=at, last_seq=0, interval_s=15.0)
    return Delivery(TOPICS.site(SITE, SiteChannel.HEARTBEAT), encode(payload))


def time_sent(store: SqliteStore) -> int:
    """How many signed times central has queued for the site."""
    with store.transaction() as session:
        return sum(
            1
            for t in session.open_tasks("send_command")
            if t.site == SITE and '"type":"resend_state"' in t.payload
        )


def test_a_clock_off_is_sent_the_time_at_once_and_at_most_once_per_interval(
    tmp_path: Path,
) -> None:
    store = open_store(tmp_path / "c.sqlite")
    ingest = make_ingest(store)
    right = snapshot(SITE, [], at=NOW)
    unsure = right.model_copy(update={"clock_unsure": True})
    at_1970 = snapshot(SITE, [], at=12.0)

    ingest.commit([state_of(right)], NOW)
    ingest.commit([beat(NOW + 1)], NOW + 1)
    assert time_sent(store) == 0  # a clock that is right is left alone

    ingest.commit([state_of(at_1970, retained=True)], NOW + 2)
    assert time_sent(store) == 0  # a replayed snapshot says nothing about the clock now

    ingest.commit([state_of(unsure)], NOW + 3)
    assert time_sent(store) == 1  # at once
    ingest.commit([state_of(at_1970)], NOW + 4)
    ingest.commit([beat(15.0)], NOW + 5)
    assert time_sent(store) == 1  # not again within the interval, whatever says so

    ingest.commit([beat(16.0)], NOW + 3 + SEND_EVERY_S)
    assert time_sent(store) == 2  # the heartbeat's offset, once the interval has passed
    ingest.commit([state_of(at_1970)], NOW + 4 + SEND_EVERY_S)
    assert time_sent(store) == 2
