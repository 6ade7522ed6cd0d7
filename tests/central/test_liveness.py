"""Liveness and heartbeats over a real SQLite file, message by message as the broker would
deliver them (the same over a real broker, agent and killed broker: test_lost_deliveries.py).

Issue 11, kind 8: a retained "online" replayed by a restarted broker is not evidence that
the site lives; a site central does not hear is called offline on time. Kind 2: a heartbeat
that shows central is behind makes central ask for the rest. And each site's clock offset.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from central.operator.fleet import fleet, format_fleet
from central.service.config import IngestConfig, LivenessConfig, PickupConfig
from central.sites import liveness
from central.sites.alarms import AlarmKind
from central.sites.ingest import Delivery, Ingest
from central.sites.site_events import EventEffects
from central.store import SqliteStore
from protocols.messages import Event, Heartbeat, SiteStatus, encode
from protocols.topics import SiteChannel, Topics
from tests.central.central_rig import SiteEvents

TOPICS = Topics("lockernet-test/liveness/v1")
T0 = 1_800_000_000.0
SITE = "L0001"
EPOCH = "e0a1b2c3"
CONFIG = LivenessConfig(stale_after_s=60.0, clock_offset_limit_s=30.0)


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(tmp_path / "central.sqlite")


def make_ingest(store: SqliteStore) -> Ingest:
    return Ingest(
        store,
        TOPICS,
        EventEffects(PickupConfig()),
        IngestConfig(gap_timeout_s=5.0),
        liveness=CONFIG,
    )


def status(online: bool, *, retained: bool, site: str = SITE) -> Delivery:
    message = SiteStatus(site=site, online=online, boot_id="b1", at=T0)
    return Delivery(TOPICS.site(site, SiteChannel.STATUS), encode(message), retained=retained)


def beat(
    at: float, last_seq: int = 0, *, interval_s: float = 15.0, topic_site: str = SITE
) -> Delivery:
    message = Heartbeat(
        site=SITE, boot_id="b1", epoch=EPOCH, at=at, last_seq=last_seq, interval_s=interval_s
    )
    return Delivery(TOPICS.site(topic_site, SiteChannel.HEARTBEAT), encode(message))


def event(e: Event) -> Delivery:
    return Delivery(TOPICS.site(e.site, SiteChannel.EVENTS), encode(e))


def alarms(store: SqliteStore, kind: AlarmKind) -> list[str]:
    with store.transaction() as session:
        return [a.detail or "" for a in session.list_alarms() if a.kind == kind and a.site == SITE]


def online(store: SqliteStore) -> bool | None:
    with store.transaction() as session:
        record = session.get_site(SITE)
    return None if record is None else record.online


def stale_check(store: SqliteStore, now: float, since: float = T0) -> list[str]:
    with store.transaction() as session:
        return liveness.check_stale(session, now, since, CONFIG)


def test_a_replayed_retained_online_is_not_liveness(store: SqliteStore) -> None:
    ingest = make_ingest(store)
    ingest.commit([status(True, retained=False)], T0)  # the site says online, live
    assert online(store) is True
    # The site dies with the broker; central reconnects at T0 + 100 and the restarted
    # broker replays the retained "online": it revives nothing.
    ingest.commit([status(True, retained=True)], T0 + 100)
    assert stale_check(store, T0 + 100 + 59, since=T0 + 100) == []  # within the limit
    assert stale_check(store, T0 + 100 + 60, since=T0 + 100) == [SITE]
    assert online(store) is False
    (detail,) = alarms(store, AlarmKind.SITE_OFFLINE)
    assert "nothing heard" in detail
    # Raised once, however often the check runs.
    assert stale_check(store, T0 + 500, since=T0 + 100) == []
    assert len(alarms(store, AlarmKind.SITE_OFFLINE)) == 1
    # Another replay of "online" still revives nothing; a heartbeat does.
    ingest.commit([status(True, retained=True)], T0 + 510)
    assert online(store) is False and alarms(store, AlarmKind.SITE_OFFLINE)
    ingest.commit([beat(T0 + 520)], T0 + 520)
    assert online(store) is True and not alarms(store, AlarmKind.SITE_OFFLINE)


def test_silence_counts_from_centrals_own_start_not_from_before_it(store: SqliteStore) -> None:
    ingest = make_ingest(store)
    ingest.commit([beat(T0)], T0)
    # Central was itself down for an hour: the fleet is not called offline on its return
    # before the sites had the limit's time to be heard.
    back = T0 + 3600
    assert stale_check(store, back + 1, since=back) == []
    ingest.commit([beat(back + 10)], back + 10)
    assert stale_check(store, back + 65, since=back) == []  # heard 55 s ago
    assert online(store) is True


def test_a_slow_beating_site_gets_four_of_its_intervals(store: SqliteStore) -> None:
    ingest = make_ingest(store)
    ingest.commit([beat(T0, interval_s=120.0)], T0)
    assert stale_check(store, T0 + 479) == []
    assert stale_check(store, T0 + 480) == [SITE]


def test_a_last_will_in_the_same_batch_as_a_heartbeat_has_the_last_word(
    store: SqliteStore,
) -> None:
    ingest = make_ingest(store)
    ingest.commit([beat(T0), status(False, retained=False)], T0)
    assert online(store) is False
    assert alarms(store, AlarmKind.SITE_OFFLINE)
    # A replayed "offline" after the site was heard again since is not believed.
    ingest.commit([beat(T0 + 10)], T0 + 10)
    ingest.commit([status(False, retained=True)], T0 + 20)
    assert online(store) is True and not alarms(store, AlarmKind.SITE_OFFLINE)


def test_a_heartbeat_ahead_of_central_makes_it_ask_for_the_rest(store: SqliteStore) -> None:
    ingest = make_ingest(store)
    log = SiteEvents(SITE, epoch=EPOCH)
    first = [log.door_left_open("A"), log.door_closed("A")]
    lost = [log.door_left_open("B"), log.door_closed("B")]  # acknowledged, never delivered
    ingest.commit([event(e) for e in first], T0)
    assert ingest.check_gaps(T0 + 100) == []  # nothing known missing
    ingest.commit([beat(T0 + 100, last_seq=4)], T0 + 100)
    assert ingest.check_gaps(T0 + 101) == []  # time for events merely in flight
    assert ingest.check_gaps(T0 + 105) == [(SITE, 3)]
    ingest.commit([event(e) for e in lost], T0 + 106)  # the resend
    with store.transaction() as session:
        cursor = session.stream(SITE)
    assert (cursor.applied_seq, cursor.max_received_seq, cursor.gap_since) == (4, 4, None)
    ingest.commit([beat(T0 + 115, last_seq=4)], T0 + 115)
    assert ingest.check_gaps(T0 + 200) == []


def test_a_heartbeat_of_a_stream_central_has_not_started_opens_no_gap(
    store: SqliteStore,
) -> None:
    ingest = make_ingest(store)
    log = SiteEvents(SITE, epoch="another")
    ingest.commit([event(log.door_left_open("A"))], T0)
    ingest.commit([beat(T0 + 1, last_seq=50)], T0 + 1)  # EPOCH: a store central never saw
    assert ingest.check_gaps(T0 + 100) == []


def test_a_heartbeat_on_another_sites_topic_is_refused(store: SqliteStore) -> None:
    result = make_ingest(store).commit([beat(T0, topic_site="L0002")], T0)
    assert result.rejected == 1
    with store.transaction() as session:
        assert session.get_liveness(SITE) is None and session.get_liveness("L0002") is None


def test_the_clock_offset_is_smoothed_tracked_and_alarmed(store: SqliteStore) -> None:
    ingest = make_ingest(store)

    def offset() -> float:
        with store.transaction() as session:
            record = session.get_liveness(SITE)
        assert record is not None and record.clock_offset_s is not None
        return record.clock_offset_s

    ingest.commit([beat(T0 + 2.0)], T0)
    assert offset() == pytest.approx(2.0)  # the first sample is taken as it is
    ingest.commit([beat(T0 + 15 + 6.0)], T0 + 15)  # jitter: smoothed
    assert offset() == pytest.approx(3.0)
    assert not alarms(store, AlarmKind.CLOCK_OFFSET)
    # The site's clock is stepped four hours back: taken at once, alarmed.
    ingest.commit([beat(T0 + 30 - 4 * 3600)], T0 + 30)
    assert offset() == pytest.approx(-4 * 3600)
    (detail,) = alarms(store, AlarmKind.CLOCK_OFFSET)
    assert "4.0 h behind" in detail
    with store.transaction() as session:
        assert "-4.0h" in format_fleet(fleet(session))
    # The same beat heard by a second central process is not a second sample.
    ingest.commit([beat(T0 + 30 - 4 * 3600)], T0 + 30.5)
    assert offset() == pytest.approx(-4 * 3600)
    # NTP sets it right: cleared.
    ingest.commit([beat(T0 + 45 + 1.0)], T0 + 45)
    assert offset() == pytest.approx(1.0)
    assert not alarms(store, AlarmKind.CLOCK_OFFSET)
    # Past the limit raises it; back under the limit but not under half of it does not
    # clear it, so an offset hovering at the limit does not flap.
    ingest.commit([beat(T0 + 60 + 40.0)], T0 + 60)
    assert alarms(store, AlarmKind.CLOCK_OFFSET)
    for i in range(1, 8):
        ingest.commit([beat(T0 + 60 + 15 * i + 20.0)], T0 + 60 + 15 * i)
    assert 15 < offset() < 30
    assert alarms(store, AlarmKind.CLOCK_OFFSET)


def test_a_last_will_is_dated_when_central_hears_it_not_when_its_connection_began(
    store: SqliteStore,
) -> None:
    # A will carries the time its connection was made: hours before it fires. The alarm an
    # operator reads says when the link went down, by central's clock.
    ingest = make_ingest(store)
    ingest.commit([beat(T0)], T0)
    fired = T0 + 6 * 3600
    ingest.commit([status(False, retained=False)], fired)  # the will's `at` is T0
    with store.transaction() as session:
        (alarm,) = [a for a in session.list_alarms() if a.kind == AlarmKind.SITE_OFFLINE]
    assert alarm.opened_at == fired


def test_a_site_is_said_online_once_per_connect_and_offline_once(
    store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="central.sites.alarms")

    def lines(fragment: str) -> int:
        return sum(fragment in r.getMessage() for r in caplog.records)

    ingest = make_ingest(store)
    # A first connect: its status, a heartbeat and its retained status again, as a central
    # (re)subscribing hears them, in one batch and in the next.
    ingest.commit([status(True, retained=False), beat(T0)], T0)
    ingest.commit([status(True, retained=True), beat(T0 + 15)], T0 + 15)
    assert lines(f"site {SITE} is online") == 1
    ingest.commit([status(False, retained=False)], T0 + 20)  # its last will
    ingest.commit([status(False, retained=True)], T0 + 21)
    assert lines(f"site {SITE} went offline") == 1
    ingest.commit([status(True, retained=False), beat(T0 + 30)], T0 + 30)  # back
    assert lines(f"site {SITE} is online") == 2
    assert lines(f"site {SITE} went offline") == 1
