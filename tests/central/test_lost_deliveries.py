"""Issue 11, kinds 2 and 8, against the real parts: a private Mosquitto that is restarted and
killed (-9), the real central service, the real site agent on ptys.

Kind 2: events the broker acknowledged to the site and never delivered (a broker restart
while central is stopped, a broker killed -9) reach central exactly once, and the parcel's
pickup code is issued, with no further event from the site: its heartbeat shows central is
behind and central asks for a resend.

Kind 8: a site that dies while the broker is killed leaves a retained "online" that the
restarted broker brings back; central calls it offline within its staleness limit anyway,
with an alarm, and clears the alarm once the site is heard again.

Also: central tracks each site's clock offset from its heartbeats, with an alarm past the
limit that clears when the clock is right again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from central.broker import PrivateBroker
from central.parcels.steps import announce
from central.service.service import CentralService
from central.sites.alarms import AlarmKind
from central.sites.ingest import stream_of
from central.store import SqliteStore, StreamCursor
from hw_sim.field.broker_faults import LostCentralMember, kill_broker, site_dies_with_broker
from hw_sim.people.people import Courier
from protocols.clock import SystemClock
from protocols.messages import SiteStatus, SlotState, decode
from protocols.tokens import TokenSigner
from protocols.topics import Topics
from tests.central.central_rig import announcement, central_config, config_toml, label
from tests.central.test_two_centrals import CentralProcess
from tests.edge.rig import BRISK, Observer, SiteRig
from tests.eventually import eventually, eventually_async

pytestmark = [pytest.mark.broker, pytest.mark.pty]

SITE = "L0001"
HEARTBEAT_S = 0.3  # the site's beat (15 s in the field)
STALE_S = 1.5  # central's staleness limit (60 s in the field)


class Centrals:
    """In-process central services on one store, started and stopped by the test."""

    def __init__(self, tmp: Path, broker: PrivateBroker, topics: Topics, signer: TokenSigner):
        self.config = central_config(
            tmp,
            broker,
            topics,
            liveness={"stale_after_s": STALE_S, "clock_offset_limit_s": 30.0},
        )
        self.signer = signer
        self.running: CentralService | None = None

    def start(self) -> CentralService:
        service = CentralService(self.config, signer=self.signer, clock=SystemClock(), network=None)
        service.start()
        assert service.connected, "central did not connect"
        self.running = service
        return service

    def stop(self) -> None:
        if self.running is not None:
            self.running.stop()
            self.running = None

    def stream(self) -> StreamCursor:
        assert self.running is not None
        return stream_of(self.running.store, SITE)

    def alarms(self, kind: AlarmKind) -> list[Any]:
        assert self.running is not None
        return [a for a in self.running.store_alarms() if a.site == SITE and a.kind == kind]

    def online(self) -> bool | None:
        assert self.running is not None
        with self.running.store.transaction() as session:
            record = session.get_site(SITE)
        return None if record is None else record.online

    def announce(self, *numbers: int) -> None:
        assert self.running is not None
        with self.running.store.transaction() as session:
            for n in numbers:
                announce(session, announcement(n), time.time())

    def parcel(self, n: int) -> tuple[str | None, int]:
        """(central's state of parcel n, how many pickup codes it was issued)."""
        assert self.running is not None
        with self.running.store.transaction() as session:
            record = session.get_parcel(label(n))
            return (record.state if record else None), len(session.codes(label(n)))


@pytest.fixture
def centrals(
    tmp_path: Path, own_broker: PrivateBroker, topics: Topics
) -> Iterator[Callable[[TokenSigner], Centrals]]:
    made: list[Centrals] = []

    def make(signer: TokenSigner) -> Centrals:
        made.append(Centrals(tmp_path / "central", own_broker, topics, signer))
        (tmp_path / "central").mkdir(exist_ok=True)
        return made[-1]

    yield make
    for c in made:
        c.stop()


def site_rig(tmp_path: Path, broker: PrivateBroker, topics: Topics, **overrides: Any) -> SiteRig:
    return SiteRig(
        tmp_path / "site",
        broker,
        topics,
        site_id=SITE,
        overrides={"timing.heartbeat_interval_s": HEARTBEAT_S, **overrides},
    )


async def deposit(rig: SiteRig, n: int, *, acked: bool = True) -> None:
    """A courier deposits parcel n (reserved at the site the way central would); `acked`:
    and the broker took its events for a subscriber (the site's outbox is empty)."""
    await rig.reserve(label(n))
    report = await Courier(rig.sim, BRISK).deposit(rig.badge(), [label(n)])
    assert report.placed, report
    assert rig.agent is not None
    agent = rig.agent

    def done() -> bool:
        slot = agent.store.read().slot_holding(label(n))
        return slot is not None and slot.state is SlotState.OCCUPIED and not agent.open_doors

    await eventually_async(done, 20, "the door closed on the parcel")
    if acked:
        # The broker acknowledged every event: the site's outbox is empty.
        await eventually_async(lambda: agent.store.pending_count() == 0, 20, "the broker's PUBACKs")


async def lost_while_central_away(
    tmp_path: Path,
    own_broker: PrivateBroker,
    topics: Topics,
    centrals: Callable[[TokenSigner], Centrals],
    lose: Callable[[], Awaitable[None]],
) -> tuple[float, int]:
    """Central stopped; `lose` does something to the broker; one deposit at the site;
    central started; the site does nothing more. Returns (seconds from central's start
    until every event was applied once, the site's last seq)."""
    rig = site_rig(tmp_path, own_broker, topics)
    central = centrals(rig.signer)
    central.start()
    central.announce(1, 2)
    agent = await rig.start()
    try:
        await deposit(rig, 1)
        await eventually_async(
            lambda: central.stream().applied_seq == agent.store.last_seq(), 20, "first deposit"
        )
        central.stop()
        connects = agent.link.stats.connects
        await lose()
        # Back on the new broker, and its retained state already says everything central
        # has: only what the site does from now on is lost.
        await eventually_async(
            lambda: agent.link.stats.connects > connects and agent.link.connected,
            20,
            "the site reconnected to the restarted broker",
        )
        # With central's subscription gone with the broker's restart, the broker takes the
        # deposit for no subscriber (PUBACK 0x10) and the site keeps it in its outbox; with
        # the subscription still there, the broker queues it. Lost either way it is not.
        await deposit(rig, 2, acked=False)
        last = agent.store.last_seq()
        started = time.monotonic()
        central.start()
        # No event from the site from here on: only its heartbeat and its resend.
        await eventually_async(
            lambda: central.stream().applied_seq >= last, 30, "every event applied"
        )
        took = time.monotonic() - started
        assert central.running is not None
        print("commands:", [c.type for c in central.running.store_commands(SITE)])
        assert agent.store.last_seq() == last  # the site wrote nothing new meanwhile
        cursor = central.stream()
        assert (cursor.applied_seq, cursor.deposits) == (last, 2)  # each once, in effect
        await eventually_async(lambda: central.parcel(2)[1] >= 1, 20, "parcel 2's pickup code")
        assert central.parcel(2) == ("ready_for_pickup", 1)
        assert central.parcel(1) == ("ready_for_pickup", 1)
        return took, last
    finally:
        await rig.stop()


def test_a_broker_restart_while_central_is_stopped_loses_nothing(
    tmp_path: Path, own_broker: PrivateBroker, topics: Topics, centrals: Any
) -> None:
    # Mosquitto 2.0 does not bring central's shared subscription back across its restart:
    # the deposit after it is acknowledged to the site and dropped.
    async def restart() -> None:
        await asyncio.to_thread(own_broker.restart)  # SIGTERM: it saves everything first

    took, _ = asyncio.run(lost_while_central_away(tmp_path, own_broker, topics, centrals, restart))
    print(f"broker restarted while central stopped: every event applied {took:.2f} s after start")


def test_a_broker_killed_9_loses_nothing(
    tmp_path: Path, own_broker: PrivateBroker, topics: Topics, centrals: Any
) -> None:
    # hw_sim's fault: SIGKILL, no last save of its sessions and queues.
    took, _ = asyncio.run(
        lost_while_central_away(
            tmp_path, own_broker, topics, centrals, lambda: kill_broker(own_broker)
        )
    )
    print(f"broker killed -9 while central stopped: every event applied {took:.2f} s after start")


def test_a_broker_killed_9_under_a_running_central_loses_nothing(
    tmp_path: Path, own_broker: PrivateBroker, topics: Topics, centrals: Any
) -> None:
    """The other member of the kind: central keeps running; events published just before
    the broker dies, and just after it is back before central resubscribes."""

    async def scenario() -> None:
        rig = site_rig(tmp_path, own_broker, topics)
        central = centrals(rig.signer)
        central.start()
        central.announce(1, 2, 3)
        agent = await rig.start()
        try:
            await deposit(rig, 1)
            connects = agent.link.stats.connects
            await kill_broker(own_broker)
            await eventually_async(
                lambda: agent.link.stats.connects > connects and agent.link.connected,
                20,
                "the site back",
            )
            await deposit(rig, 2)
            await deposit(rig, 3)
            last = agent.store.last_seq()
            await eventually_async(
                lambda: central.stream().applied_seq >= last, 30, "every event applied"
            )
            assert agent.store.last_seq() == last
            assert central.stream().deposits == 3
            await eventually_async(lambda: central.parcel(3)[1] >= 1, 20, "parcel 3's code")
            assert [central.parcel(n) for n in (1, 2, 3)] == [("ready_for_pickup", 1)] * 3
        finally:
            await rig.stop()

    asyncio.run(scenario())


def test_a_site_dying_with_the_broker_is_called_offline_on_time(
    tmp_path: Path, own_broker: PrivateBroker, topics: Topics, centrals: Any
) -> None:
    observer = Observer(own_broker, topics, SITE)

    async def scenario() -> None:
        rig = site_rig(tmp_path, own_broker, topics)
        central = centrals(rig.signer)
        central.start()
        agent = await rig.start()
        await eventually_async(lambda: central.online() is True, 10, "the site online")
        connected_at = time.time()
        # The broker's retained "online" is on disk (it saves every few seconds).
        db = own_broker.data_dir / "mosquitto.db"
        await eventually_async(
            lambda: db.exists() and db.stat().st_mtime > connected_at, 15, "a broker save"
        )
        await site_dies_with_broker(own_broker, agent)  # no will can fire
        back = time.monotonic()
        # The restarted broker still says the site is online...
        retained = observer_status(observer)
        assert retained is not None and retained.online
        # ...central calls it offline within its staleness limit anyway.
        await eventually_async(
            lambda: central.alarms(AlarmKind.SITE_OFFLINE), STALE_S + 10, "the offline alarm"
        )
        took = time.monotonic() - back
        assert central.online() is False
        assert took < STALE_S + 3, took  # the limit, plus a reconnect and a tick
        print(f"site dead with the broker: offline alarm {took:.2f} s after the broker's return")
        # Heard again: online, and the alarm clears.
        rig.agent = rig.new_agent()
        await rig.agent.start()
        await eventually_async(lambda: central.online() is True, 15, "the site back online")
        await eventually_async(
            lambda: not central.alarms(AlarmKind.SITE_OFFLINE), 5, "the alarm cleared"
        )
        await rig.stop()

    try:
        asyncio.run(scenario())
    finally:
        observer.close()


def observer_status(observer: Observer) -> SiteStatus | None:
    eventually(lambda: "status" in observer.retained, 10, "the retained status")
    return decode(SiteStatus, observer.retained["status"])


class SkewedClock(SystemClock):
    """The site's wall clock, off by `skew` seconds (a Pi without a real-time clock)."""

    def __init__(self, skew: float) -> None:
        self.skew = skew

    def now(self) -> float:
        return super().now() + self.skew


def test_a_site_clock_stepped_hours_ahead_raises_an_alarm_that_clears_when_it_is_right(
    tmp_path: Path, own_broker: PrivateBroker, topics: Topics, centrals: Any
) -> None:
    async def scenario() -> None:
        rig = site_rig(tmp_path, own_broker, topics)
        clock = SkewedClock(0.0)
        rig.clock = clock
        central = centrals(rig.signer)
        central.start()
        await rig.start()
        try:
            # Stepped ahead while it runs: central's signed time cannot pull a clock back
            # (a site's witnessed time only moves forward), so the offset stands and alarms.
            # (A clock behind is put right by central's time: test_site_clock.py.)
            await eventually_async(lambda: central.stream().id is not None, 10, "the site heard")
            clock.skew = 3 * 3600.0
            await eventually_async(
                lambda: central.alarms(AlarmKind.CLOCK_OFFSET), 10, "the clock alarm"
            )
            (alarm,) = central.alarms(AlarmKind.CLOCK_OFFSET)
            assert "3.0 h ahead of" in (alarm.detail or ""), alarm
            clock.skew = 0.0  # NTP set it right
            await eventually_async(
                lambda: not central.alarms(AlarmKind.CLOCK_OFFSET), 10, "the alarm cleared"
            )
            assert central.running is not None
            with central.running.store.transaction() as session:
                record = session.get_liveness(SITE)
            assert record is not None and record.clock_offset_s is not None
            assert abs(record.clock_offset_s) < 15
        finally:
            await rig.stop()

    asyncio.run(scenario())


# ------------------------------------------------------------- a central member gone for good

MEMBER_EXPIRY_S = 3  # central's broker.session_expiry_s here (300 s in the field)
TOGGLES = 60  # each a slot taken out of service and back: two events


def test_a_central_member_gone_for_good_loses_and_stalls_nothing(
    tmp_path: Path, own_broker: PrivateBroker, topics: Topics
) -> None:
    """Two `lockernet central run` processes share the event subscription; one is killed
    (-9) and never comes back. The broker keeps queueing its share until its session
    expires and then drops it; the site does nothing more after its burst. Every event is
    applied once all the same: the site's heartbeat shows central is behind, and the
    resend (split again while the dead member's session lives) ends up at the live one."""
    rig = site_rig(tmp_path, own_broker, topics)
    workdir = tmp_path / "central"
    workdir.mkdir()
    (workdir / "central-key.pem").write_bytes(rig.signer.private_pem())
    config = central_config(workdir, own_broker, topics, liveness={"stale_after_s": STALE_S})
    config = config.model_copy(
        update={"broker": config.broker.model_copy(update={"session_expiry_s": MEMBER_EXPIRY_S})}
    )
    config_path = workdir / "central.toml"
    config_path.write_text(config_toml(config))
    # Member a is hw_sim's lost member; b is the one that stays.
    a = LostCentralMember(config.model_dump(mode="json"), workdir, "central-a")
    b = CentralProcess(config_path, "central-b", workdir / "b.log")
    a.start()
    b.start()
    store = SqliteStore(config.store.path)

    def applied() -> int:
        with store.transaction() as session:
            return session.stream(SITE).applied_seq

    async def scenario() -> tuple[float, float, int]:
        agent = await rig.start()
        try:
            await eventually_async(lambda: applied() == agent.store.last_seq(), 20, "start-up")
            a.kill()  # gone for good
            killed = time.monotonic()
            for i in range(TOGGLES):
                slot = f"A{i % 16 + 1:02d}"
                agent.set_service(slot, False, "test", "burst")
                agent.set_service(slot, True, "test", "burst")
            await eventually_async(lambda: agent.store.pending_count() == 0, 30, "PUBACKs")
            acked = time.monotonic()
            last = agent.store.last_seq()
            # The site writes nothing more: only its heartbeat and the resends.
            await eventually_async(lambda: applied() >= last, 60, "every event applied")
            done = time.monotonic()
            assert agent.store.last_seq() == last
            return done - killed, done - acked, last
        finally:
            await rig.stop()

    try:
        since_kill, since_acked, last = asyncio.run(scenario())
        with store.transaction() as session:
            cursor = session.stream(SITE)
            states = {s.slot: s.state for s in session.list_slots(SITE)}
        assert cursor.applied_seq == last and cursor.lost == 0
        assert set(states.values()) == {"free"}  # every toggle applied, in order
        print(
            f"a central member gone for good (session expiry {MEMBER_EXPIRY_S} s): all "
            f"{last} events applied {since_kill:.2f} s after the kill, {since_acked:.2f} s "
            "after the site's last PUBACK"
        )
        assert b.stop() == 0
    finally:
        store.close()
        a.kill()
        if b.process is not None and b.process.poll() is None:
            b.process.kill()
