"""The simulated day's carrier feed: a sample of each wave is known in transit before its
manifest, with repeats and reversed journeys, and the manifest then announces every parcel
of the wave, keeping the journey."""

from __future__ import annotations

from pathlib import Path

from central.parcels.manifest import generate_manifest
from central.parcels.milestone_feed import record_reports
from central.parcels.steps import announce
from central.store import SqliteStore
from hw_sim.network.carrier_feed import JOURNEY, SAMPLE_PER_WAVE, carrier_reports
from tests.central.central_rig import small_network

START = 1_800_000_000.0


def test_a_waves_sample_is_in_transit_before_its_manifest_and_announced_with_its_journey(
    tmp_path: Path,
) -> None:
    wave = generate_manifest(small_network(), 400, seed=3, start=START)
    feed = carrier_reports(wave, START, wave[0].label)
    labels = {report.label for _, report in feed}
    assert len(labels) == SAMPLE_PER_WAVE
    store = SqliteStore(tmp_path / "central.sqlite")
    try:
        fed = record_reports(store, feed, "carrier feed", START)
        again = record_reports(store, feed, "carrier feed", START)
        assert fed.recorded + fed.repeated == len(feed) and fed.repeated > 0  # some twice
        assert (again.recorded, again.repeated) == (0, len(feed))  # the whole feed twice
        with store.transaction() as session:
            assert session.parcel_state_counts() == {"in_transit": SAMPLE_PER_WAVE}
            new = [p.label for p in wave if announce(session, p, START) is not None]
        assert len(new) == len(wave)  # nobody skipped for being known in transit
        with store.transaction() as session:
            for parcel in wave:
                record = session.get_parcel(parcel.label)
                assert record is not None and record.state == "announced"
                assert record.dispatched_at == parcel.dispatched_at
                journey = [m.milestone for m in session.milestones(parcel.label)]
                if parcel.label in labels:
                    assert journey[-1] == "handed_to_partner" and journey[:2] == [
                        "accepted_at_origin",
                        "dispatched",
                    ]
                    assert {m.value for m, _ in JOURNEY} <= set(journey)
                    assert record.milestone == "handed_to_partner"
                    assert all(m.at < START for m in session.milestones(parcel.label))
                else:
                    assert journey == []
            assert not [a for a in session.list_alarms() if a.kind == "customs_held"]
    finally:
        store.close()
