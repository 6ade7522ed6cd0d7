"""A hostile review of central's side of issue 11's field fixes: inputs a field site, a
misbehaving site or two central processes would produce, each checked against what an
operator or a consumer would notice (an effect lost or doubled, events stalled or applied
out of order, a false alarm, a site flooded with commands). Real SQLite files throughout.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from central.broker import PrivateBroker
from central.errors import CommandFailed
from central.parcels.steps import announce
from central.parcels.tasks import TaskKind, TaskRunner
from central.service.config import IngestConfig, LivenessConfig, PickupConfig
from central.service.service import CentralService
from central.sites.alarms import AlarmKind
from central.sites.commands import CommandSender, queue_command
from central.sites.ingest import Delivery, Ingest
from central.sites.site_events import EventEffects
from central.store import ReservationRecord, SqliteStore
from edge.agent import SiteAgent
from hw_sim.field.original_pi import followed_stream, put_back_store, set_aside_store
from protocols.clock import ManualClock, SystemClock
from protocols.messages import (
    Event,
    Heartbeat,
    RevokeCode,
    SiteStatus,
    SizeClass,
    SlotState,
    StateSnapshot,
    encode,
)
from protocols.tokens import TokenSigner
from protocols.topics import SiteChannel, Topics
from tests.central.central_rig import (
    SiteEvents,
    announcement,
    central_config,
    label,
    small_network,
    snapshot,
)
from tests.edge.rig import SiteRig
from tests.eventually import eventually_async

TOPICS = Topics("lockernet-test/attacks/v1")
T0 = 1_800_000_000.0
SITE = "L0001"
EPOCH = "0a0a0a0a0a0a0a0a"
LIVENESS = LivenessConfig(stale_after_s=60.0, clock_offset_limit_s=30.0, time_send_interval_s=60.0)
GAPS = IngestConfig(gap_timeout_s=5.0, gap_give_up_s=600.0)


def make_ingest(store: SqliteStore) -> Ingest:
    return Ingest(store, TOPICS, EventEffects(PickupConfig()), GAPS, liveness=LIVENESS)


def of_event(e: Event) -> Delivery:
    return Delivery(TOPICS.site(e.site, SiteChannel.EVENTS), encode(e))


def of_state(s: StateSnapshot) -> Delivery:
    return Delivery(TOPICS.site(s.site, SiteChannel.STATE), encode(s))


def of_beat(at: float, last_seq: int, epoch: str = EPOCH) -> Delivery:
    message = Heartbeat(
        site=SITE, boot_id="b1", epoch=epoch, at=at, last_seq=last_seq, interval_s=15.0
    )
    return Delivery(TOPICS.site(SITE, SiteChannel.HEARTBEAT), encode(message), received_at=at)


def reissued(e: Event, tag: str) -> Event:
    """The same seq written again by a store that lost its last writes: a new event id."""
    return e.model_copy(update={"id": f"{e.id}-{tag}"})


def parcel_state(store: SqliteStore, n: int) -> str | None:
    with store.transaction() as session:
        record = session.get_parcel(label(n))
    return None if record is None else record.state


def alarm_details(store: SqliteStore, kind: AlarmKind) -> list[str]:
    with store.transaction() as session:
        return [a.detail or "" for a in session.list_alarms() if a.kind == kind and a.site == SITE]


def queued(store: SqliteStore, kind: str) -> list[str]:
    """The commands of `kind` queued for the site (their task payloads)."""
    with store.transaction() as session:
        tasks = session.open_tasks("send_command")
    return [t.payload for t in tasks if t.site == SITE and f'"type":"{kind}"' in t.payload]


def test_a_late_original_event_after_a_rewind_does_not_stall_the_new_stream(
    tmp_path: Path,
) -> None:
    """Central applied 1..10; the site wrote 11 and 12, and 12 arrived while 11 was still in
    flight. The store then rolled back to 11 and wrote a new 12 and 13. The old 11 arrives
    late, behind the new 12. Every deposit takes effect at once: the late 11 is not a second
    rewind that leaves the new 13 waiting for a 12 central already has (a week's stall, with
    the parcel unknown to central meanwhile). (The parcels were never announced here, so
    each deposit makes an exception; what matters is that central knows of it.)"""
    store = SqliteStore(tmp_path / "central.sqlite")
    ingest = make_ingest(store)
    log = SiteEvents(SITE, epoch=EPOCH)
    first = [log.deposit(label(n), f"S{n}") for n in range(1, 11)]
    old_11, old_12 = log.deposit(label(11), "S11"), log.deposit(label(12), "S12")
    again = SiteEvents(SITE, epoch=EPOCH, seq=11)
    new_12 = reissued(again.deposit(label(13), "S13"), "rb")
    new_13 = reissued(again.deposit(label(14), "S14"), "rb")

    ingest.commit([of_event(e) for e in first], T0)
    ingest.commit([of_event(old_12)], T0 + 1)  # waits for 11
    ingest.commit([of_event(new_12)], T0 + 2)  # a new id under 12: the rewind
    ingest.check_gaps(T0 + 2 + GAPS.gap_timeout_s)  # the closed stream is given up at once
    ingest.commit([of_event(old_11)], T0 + 10)  # the original 11, late
    ingest.commit([of_event(new_13)], T0 + 11)

    for n in (11, 12, 13, 14):
        assert parcel_state(store, n) == "exception", n  # deposited, seen by central
    # The late 11 was not a second rewind either.
    assert len(alarm_details(store, AlarmKind.STREAM_REWOUND)) == 1


def test_a_heartbeat_claiming_a_seq_never_written_does_not_blind_the_gap_check(
    tmp_path: Path,
) -> None:
    """A buggy or hostile agent's heartbeat says it wrote up to seq 10**9 (it wrote 3). Asked
    again and again, it sends nothing, and central gives up on the claim. The site's next
    real events, 4 and 6 (5 lost by the broker), must still be applied in order with 5 asked
    for again: a claim that moved central's cursor to 10**9 made every later event 'late',
    applied in whatever order it came, with no gap ever asked for again, under an alarm that
    a billion events were lost."""
    store = SqliteStore(tmp_path / "central.sqlite")
    ingest = make_ingest(store)
    log = SiteEvents(SITE, epoch=EPOCH)
    ingest.commit([of_event(log.deposit(label(n), f"S{n}")) for n in (1, 2, 3)], T0)
    ingest.commit([of_beat(T0 + 1, last_seq=10**9)], T0 + 1)
    asked = ingest.check_gaps(T0 + 1 + GAPS.gap_timeout_s)
    assert asked == [(SITE, 4)]  # asked once, as for any gap a heartbeat shows
    ingest.check_gaps(T0 + 1 + GAPS.gap_give_up_s)  # nothing came: given up
    [lost] = alarm_details(store, AlarmKind.EVENTS_LOST)
    assert "4..1000000000" not in lost  # the claim is not reported as a billion events lost

    e4 = log.deposit(label(4), "S4")
    e5 = log.deposit(label(5), "S5")
    e6 = log.deposit(label(6), "S6")
    later = T0 + 2 + GAPS.gap_give_up_s
    ingest.commit([of_event(e4), of_event(e6)], later)
    assert parcel_state(store, 4) == "exception"  # deposited, applied
    assert parcel_state(store, 6) is None  # waits for 5, as any event after a gap
    assert ingest.check_gaps(later + GAPS.gap_timeout_s) == [(SITE, 5)]
    ingest.commit([of_event(e5)], later + GAPS.gap_timeout_s + 1)
    assert parcel_state(store, 5) == parcel_state(store, 6) == "exception"


def test_a_snapshot_taken_just_before_an_event_another_process_applied_is_not_behind(
    tmp_path: Path,
) -> None:
    """Two central processes share the site's messages. The site publishes its state (seq 2,
    asked for by central) and at once writes event 3; process A commits event 3 before
    process B commits the snapshot. The snapshot is older than event 3, not a store that
    lost writes: no snapshot_behind alarm sends an operator to check a healthy card. The
    same picture stamped after event 3 is one (the sentinel: the alarm is live)."""
    store = SqliteStore(tmp_path / "central.sqlite")
    a, b = make_ingest(store), make_ingest(store)
    log = SiteEvents(SITE, epoch=EPOCH)
    e1, e2, e3 = (log.deposit(label(n), f"S{n}") for n in (1, 2, 3))
    slots = [(f"S{n}", SizeClass.S, SlotState.OCCUPIED, label(n)) for n in (1, 2)]
    a.commit([of_event(e1), of_event(e2)], T0)
    a.commit([of_event(e3)], T0 + 1)
    taken_before = snapshot(SITE, slots, last_seq=2, at=e3.at - 0.2, epoch=EPOCH)
    b.commit([of_state(taken_before)], T0 + 1.1)
    assert alarm_details(store, AlarmKind.SNAPSHOT_BEHIND) == []

    taken_after = snapshot(SITE, slots, last_seq=2, at=e3.at + 5, epoch=EPOCH)
    b.commit([of_state(taken_after)], T0 + 6)
    assert len(alarm_details(store, AlarmKind.SNAPSHOT_BEHIND)) == 1


OTHER = "0b0b0b0b0b0b0b0b"


def test_two_stores_fighting_for_one_site_id_restart_its_stream_once(tmp_path: Path) -> None:
    """A second agent with its own store (another state_dir: the lock holds within one)
    takes the site's id: events of both epochs alternate, and the old store's heartbeats go
    on. Central restarts the stream once (one alarm, one request for the state), applies the
    old store's deposits (they happened), asks the new stream for nothing on the old store's
    heartbeat, and does not flip the stream back and forth."""
    store = SqliteStore(tmp_path / "central.sqlite")
    ingest = make_ingest(store)
    old, new = SiteEvents(SITE, epoch=EPOCH), SiteEvents(SITE, epoch=OTHER)
    ingest.commit([of_event(old.deposit(label(1), "S1"))], T0)
    at = T0
    for round_ in range(5):
        at += 10
        n = 10 + 2 * round_
        ingest.commit([of_event(new.deposit(label(n), f"S{n}"))], at)
        ingest.commit([of_event(old.deposit(label(n + 1), f"S{n + 1}"))], at + 1)
        ingest.commit([of_beat(at + 2, last_seq=old.seq + 50)], at + 2)  # the old one, ahead
        ingest.check_gaps(at + 2 + GAPS.gap_timeout_s)
    assert len(alarm_details(store, AlarmKind.STREAM_RESTARTED)) == 1
    assert len(queued(store, "resend_state")) == 1  # the restart's request for the state
    for n in [1] + [10 + k for k in range(10)]:
        assert parcel_state(store, n) == "exception", n  # each deposit known to central
    with store.transaction() as session:
        assert session.stream(SITE).epoch == OTHER


def test_a_site_saying_its_clock_is_unsure_every_second_gets_the_time_once_a_minute(
    tmp_path: Path,
) -> None:
    """Two central processes each hear a clock-unsure snapshot every second for two minutes
    (the site republishes its state at every ResendState, and at every fault change): the
    site is sent central's signed time once per time_send_interval_s, not once a snapshot."""
    store = SqliteStore(tmp_path / "central.sqlite")
    processes = (make_ingest(store), make_ingest(store))
    rows = [("S1", SizeClass.S, SlotState.FREE, None)]
    for second in range(121):
        unsure = snapshot(SITE, rows, at=T0 + second, epoch=EPOCH).model_copy(
            update={"clock_unsure": True}
        )
        processes[second % 2].commit([of_state(unsure)], T0 + second)
    sent = queued(store, "resend_state")
    assert len(sent) == 3, sent  # at 0 s, 60 s and 120 s


def test_two_processes_reconcile_a_new_stream_once(tmp_path: Path) -> None:
    """A spare Pi's first snapshot reaches both central processes (and is then published
    again, answering the restart's request for the state). Central's held reservation is
    sent to the site once and its deposited parcel flagged for a check once: a second
    reconciliation would send the courier's reservation twice and open a second exception."""
    store = SqliteStore(tmp_path / "central.sqlite")
    a, b = make_ingest(store), make_ingest(store)
    with store.transaction() as session:
        for n in (1, 2):
            announce(session, announcement(n), T0)
        session.add_reservation(
            ReservationRecord(label(2), SITE, "S", T0 - 10, T0 + 3600, slot="S2")
        )
    a.commit([of_event(SiteEvents(SITE, epoch=EPOCH).deposit(label(1), "S1"))], T0)
    assert parcel_state(store, 1) == "ready_for_pickup"

    rows = [(s, SizeClass.S, SlotState.FREE, None) for s in ("S1", "S2")]
    fresh = snapshot(SITE, rows, at=T0 + 5, epoch=OTHER)
    a.commit([of_state(fresh)], T0 + 5)
    b.commit([of_state(fresh)], T0 + 5.01)
    a.commit([of_state(fresh.model_copy(update={"at": T0 + 6}))], T0 + 6)  # the answer

    assert len(queued(store, "reserve_slot")) == 1
    assert len(queued(store, "set_slot_service")) == 1
    assert len(alarm_details(store, AlarmKind.PARCELS_UNACCOUNTED)) == 1
    with store.transaction() as session:
        flagged = [s for s in session.steps(label(1)) if s.step == "flag_exception"]
    assert len(flagged) == 1


def test_the_original_pi_put_back_after_a_spare_is_followed_again(tmp_path: Path) -> None:
    """A spare Pi (a new store) stood in for a day; the repaired original, with its old
    store, is put back. Its live snapshot is the site's state now, and its stream is the
    site's again: a gap in it (event 5 lost by the broker) is asked for and filled in order,
    not given up on at once as a stream the site had left (parcel 5's deposit lost, the
    slots central shows frozen at the spare's)."""
    store = SqliteStore(tmp_path / "central.sqlite")
    ingest = make_ingest(store)
    original, spare = SiteEvents(SITE, epoch=EPOCH), SiteEvents(SITE, epoch=OTHER)
    ingest.commit([of_event(original.deposit(label(n), f"S{n}")) for n in (1, 2, 3)], T0)
    rows = [(f"S{n}", SizeClass.S, SlotState.FREE, None) for n in range(1, 8)]
    ingest.commit([of_state(snapshot(SITE, rows, at=T0 + 10, epoch=OTHER))], T0 + 10)
    ingest.commit([of_event(spare.door_closed("S7"))], T0 + 11)

    # The original is back: its snapshot shows its parcels (central flagged them while the
    # spare, which knew none, stood in), then deposit 4, a lost 5, and 6.
    back = [
        (f"S{n}", SizeClass.S, SlotState.OCCUPIED if n <= 3 else SlotState.FREE, None)
        for n in range(1, 8)
    ]
    ingest.commit([of_state(snapshot(SITE, back, last_seq=3, at=T0 + 100, epoch=EPOCH))], T0 + 100)
    e4, e5, e6 = (original.deposit(label(n), f"S{n}") for n in (4, 5, 6))
    ingest.commit([of_event(e4), of_event(e6)], T0 + 101)
    asked = ingest.check_gaps(T0 + 101 + GAPS.gap_timeout_s)
    assert asked == [(SITE, 5)]
    ingest.commit([of_event(e5)], T0 + 102 + GAPS.gap_timeout_s)
    for n in (4, 5, 6):
        assert parcel_state(store, n) == "exception", n  # deposited, seen by central
    assert alarm_details(store, AlarmKind.EVENTS_LOST) == []
    with store.transaction() as session:
        assert session.stream(SITE).epoch == EPOCH
        s1 = session.get_slot(SITE, "S1")
    assert s1 is not None and s1.state == SlotState.OCCUPIED.value  # the original's picture


def test_a_revocation_for_a_site_offline_for_days_does_not_pile_up_at_the_broker(
    tmp_path: Path,
) -> None:
    """A consumer's old code is revoked while its site is offline for a day and a half (the
    code works for two). The revocation is resent until the site answers, and the broker
    keeps each copy for the site (its session outlives days offline) as long as the copy
    says. Each resend held until the code's expiry, so 40-odd copies of one revocation
    waited for the site and reached it together on its return. Now the first waits that
    long (it revokes the code the moment the site is back), each resend only until the
    next: when the site returns, at most two copies wait for it."""
    store = SqliteStore(tmp_path / "central.sqlite")
    clock = ManualClock(T0)
    sent: list[tuple[float, int]] = []  # (published at, held by the broker for s)

    def publish(topic: str, payload: bytes, expiry_s: int, _broker: str | None = None) -> None:
        sent.append((clock.now(), expiry_s))

    sender = CommandSender(store, TokenSigner.generate(), TOPICS, clock, publish, 3600)
    runner = TaskRunner(store, "p1", 30.0, {TaskKind.SEND_COMMAND.value: sender.run_tasks})
    with store.transaction() as session:
        queue_command(
            session,
            SITE,
            RevokeCode(parcel=label(1), code_id="ab" * 8),
            T0,
            expires_at=T0 + 2 * 86_400,
        )
    back = T0 + 36 * 3600
    while clock.now() < back:
        runner.run_due(clock.now())
        clock.advance(60)
    waiting = [at for at, hold in sent if at + hold > back]
    assert len(sent) > 30  # resent all along: the site may have refused one for its clock
    assert sent[0][0] + sent[0][1] >= T0 + 2 * 86_400 - 1  # the first waits for the site
    assert len(waiting) <= 2, len(waiting)

    # The site answers the copy it got: no more are sent (the sentinel: the runner ran on).
    count = len(sent)
    with store.transaction() as session:
        first = next(c for c in session.commands_to(SITE) if c.type == "revoke_code")
        session.record_reply(first.id, True, None, clock.now(), None)
    while clock.now() < back + 4 * 3600:
        runner.run_due(clock.now())
        clock.advance(60)
    assert len(sent) == count


def test_commands_the_broker_did_not_take_are_sent_at_the_next_claim_and_none_twice(
    tmp_path: Path,
) -> None:
    """Command tasks are sent in chunks. The broker refuses the third of six (a full
    in-flight window, a lost connection): the two before it are sent once, and it and the
    three after it go at the next claim, not waiting out the same timeout one by one."""
    store = SqliteStore(tmp_path / "central.sqlite")
    clock = ManualClock(T0)
    sent: list[str] = []  # the code ids of the revocations the broker took
    calls: list[bytes] = []

    def publish(topic: str, payload: bytes, expiry_s: int, _broker: str | None = None) -> None:
        calls.append(payload)
        if len(calls) == 3:
            raise CommandFailed("the broker did not acknowledge in 10 s")
        sent.append(json.loads(json.loads(payload)["command"])["body"]["code_id"])

    sender = CommandSender(store, TokenSigner.generate(), TOPICS, clock, publish, 3600)
    runner = TaskRunner(store, "p1", 30.0, {TaskKind.SEND_COMMAND.value: sender.run_tasks})
    codes = [f"{n:02d}" * 8 for n in range(1, 7)]
    with store.transaction() as session:
        for n, code in enumerate(codes, 1):
            body = RevokeCode(parcel=label(n), code_id=code)
            queue_command(session, SITE, body, T0, expires_at=T0 + 86_400)
    assert runner.run_due(T0) == 6
    assert sent == codes[:2]
    assert runner.run_due(T0 + 1) == 0  # the rest wait for the retry, not at once
    clock.advance(10)
    assert runner.run_due(T0 + 10) == 4
    assert sorted(sent) == codes  # each revocation reached the broker once
    with store.transaction() as session:
        waiting = session.open_tasks(TaskKind.SEND_COMMAND.value)
    # Revocations must be answered: each task waits for its site's answer, due again later.
    assert len(waiting) == 6 and all(t.due_at >= T0 + 60 for t in waiting)


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
def test_the_sim_plays_the_original_pi_put_back_and_central_follows_it(
    tmp_path: Path, broker: PrivateBroker, topics: Topics, central: CentralService
) -> None:
    """hw_sim.field.original_pi through a real agent, broker and central service: a spare stands
    in, the original is put back, and central follows the original's stream again; a
    compartment the original then takes out of service shows so at central."""
    rig = SiteRig(tmp_path / "site", broker, topics, site_id=SITE, signer=central.signer)

    def follows(agent: SiteAgent) -> bool:
        return followed_stream(central.store, SITE, agent) is None

    async def scenario() -> str | None:
        agent = await rig.start()
        try:
            await eventually_async(lambda: follows(agent), 10, "central on the original")
            original_epoch = agent.store.epoch
            await agent.stop()
            kept = set_aside_store(agent.store.path)
            rig.agent = spare = rig.new_agent()
            await spare.start()
            await eventually_async(lambda: follows(spare), 10, "central on the spare")
            await spare.stop()
            put_back_store(spare.store.path, kept)
            rig.agent = back = rig.new_agent()
            await back.start()
            assert back.store.epoch == original_epoch
            await eventually_async(lambda: follows(back), 10, "central on the original again")
            slot = rig.config.slots[0].id
            back.set_service(slot, False, "technician", "a sticky hinge")

            def out_of_service() -> bool:
                with central.store.transaction() as session:
                    record = session.get_slot(SITE, slot)
                return record is not None and record.state == SlotState.OUT_OF_SERVICE.value

            await eventually_async(out_of_service, 10, "the original's event at central")
            return followed_stream(central.store, SITE, back)
        finally:
            await rig.stop()

    assert asyncio.run(scenario()) is None


def test_a_last_will_replayed_after_the_site_was_heard_does_not_call_it_offline(
    tmp_path: Path,
) -> None:
    """A second central process subscribes (or the broker restarts) and is replayed the
    site's retained last will of last night, after central heard the site this morning. The
    operator must not see a live site called offline; the same will replayed once the site
    has been silent past the limit is believed (the sentinel: a replay is read and judged)."""
    store = SqliteStore(tmp_path / "central.sqlite")
    ingest = make_ingest(store)
    ingest.commit([of_event(SiteEvents(SITE, epoch=EPOCH).door_closed("S1"))], T0)
    will = SiteStatus(site=SITE, online=False, boot_id="b0", at=T0 - 8 * 3600)
    replay = Delivery(TOPICS.site(SITE, SiteChannel.STATUS), encode(will), retained=True)
    ingest.commit([replay], T0 + 5)
    with store.transaction() as session:
        record = session.get_site(SITE)
    assert record is not None and record.online is True
    assert alarm_details(store, AlarmKind.SITE_OFFLINE) == []

    ingest.commit([replay], T0 + LIVENESS.stale_after_s + 5)
    with store.transaction() as session:
        record = session.get_site(SITE)
    assert record is not None and record.online is False
