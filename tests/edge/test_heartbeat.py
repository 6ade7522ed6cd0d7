"""The site's heartbeat (issue 11, kinds 2 and 8): sent every `timing.heartbeat_interval_s`
with the stream's epoch, the newest written seq, the boot id and the site's clock; never
retained, so a broker restart cannot bring back a beat of a site that is gone."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from central.broker import PrivateBroker
from edge.uplink.heartbeat import EPOCH_META_KEY
from hw_sim.people.people import Courier
from protocols.messages import Heartbeat, decode
from protocols.topics import Topics
from tests.edge.rig import BRISK, Observer, SiteRig, labels
from tests.eventually import eventually, eventually_async

pytestmark = [pytest.mark.broker, pytest.mark.pty]


def test_the_heartbeat_carries_the_stream_and_the_clock_and_is_never_retained(
    tmp_path: Path, own_broker: PrivateBroker, topics: Topics
) -> None:
    observer = Observer(own_broker, topics, "L0001")

    def latest() -> Heartbeat | None:
        raw = observer.retained.get("heartbeat")
        return decode(Heartbeat, raw) if raw else None

    async def scenario() -> None:
        rig = SiteRig(tmp_path, own_broker, topics, overrides={"timing.heartbeat_interval_s": 0.2})
        agent = await rig.start()
        try:
            await eventually_async(lambda: latest() is not None, 5, "a heartbeat")
            (parcel,) = labels(1)
            await rig.reserve(parcel)
            report = await Courier(rig.sim, BRISK).deposit(rig.badge(), [parcel])
            assert report.placed
            written = agent.store.last_seq()
            assert written > 0
            # A later beat says how far the site's stream has got, with no event needed.
            await eventually_async(
                lambda: (b := latest()) is not None and b.last_seq == agent.store.last_seq(),
                5,
                "a beat with the new seq",
            )
            beat = latest()
            assert beat is not None
            assert beat.site == "L0001" and beat.boot_id == agent.boot_id
            assert beat.epoch == agent.store.get_meta(EPOCH_META_KEY)
            assert beat.interval_s == 0.2
            assert abs(beat.at - time.time()) < 5
        finally:
            await rig.stop()

    try:
        asyncio.run(scenario())
        # Never retained: a subscriber that comes after the site stopped hears no beat, but
        # does hear the retained status (the sentinel that it would have seen one).
        late = Observer(own_broker, topics, "L0001")
        try:
            eventually(lambda: "status" in late.retained, 5, "the retained status")
            assert "heartbeat" not in late.retained
        finally:
            late.close()
    finally:
        observer.close()
