"""Sites spread over several brokers: central.toml's [[brokers]], one central session per
broker, commands on the site's own broker, and a broker killed (-9) that takes only its own
sites out of sight and loses none of their events (docs/brokers.md)."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from central.broker import PrivateBroker
from central.errors import ConfigError
from central.service.config import CentralConfig, LivenessConfig, load_config, parse_config
from central.service.ingest_worker import AckToken, SiteBrokers
from central.service.service import CentralService
from central.sites import liveness
from central.sites.alarms import AlarmKind
from central.sites.deliveries import Delivery
from central.sites.liveness import BrokerHearing, broker_alarm_site
from central.store import AlarmRecord, SiteRecord, SqliteStore
from edge.store.sqlite import Store
from edge.uplink.outbox_publisher import NO_MATCHING_SUBSCRIBERS, LinkStats, OutboxPublisher
from protocols.clock import ManualClock
from protocols.messages import (
    DoorClosed,
    Event,
    Heartbeat,
    RunDiagnostics,
    SizeClass,
    SlotState,
    encode,
)
from protocols.tokens import TokenSigner
from protocols.topics import SiteChannel, Topics
from tests.central.central_rig import Site, SiteEvents, snapshot
from tests.eventually import eventually

# ------------------------------------------------------------------------------ config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "central.toml"
    path.write_text(text)
    return path


TWO = """
[[brokers]]
name = "north"
host = "10.0.0.1"
port = 8883
password_file = "north.pass"

[[brokers]]
name = "south"
host = "10.0.0.2"
port = 8883
"""


def test_brokers_are_a_list_of_named_tables_with_their_own_paths(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, TWO), environ={})
    assert [(b.name, b.address) for b in config.broker_list] == [
        ("north", "10.0.0.1:8883"),
        ("south", "10.0.0.2:8883"),
    ]
    assert config.broker_list[0].password_file == tmp_path / "north.pass"


def test_the_single_broker_section_is_one_broker_named_main(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, '[broker]\nport = 1884\nclient_id = "central-a"\n'),
        environ={"LOCKERNET_CENTRAL__BROKER__PORT": "1885"},
    )
    [only] = config.broker_list
    assert (only.name, only.port, only.client_id) == ("main", 1885, "central-a")
    assert parse_config({}, environ={}).broker_list[0].name == "main"


def test_a_process_client_id_from_the_environment_applies_to_every_broker(
    tmp_path: Path,
) -> None:
    config = load_config(
        write(tmp_path, TWO), environ={"LOCKERNET_CENTRAL__BROKER__CLIENT_ID": "central-2"}
    )
    assert {b.client_id for b in config.broker_list} == {"central-2"}


def test_a_dumped_config_parses_back_to_the_same_brokers(tmp_path: Path) -> None:
    """A child process is given its config as a dump: one form only, overrides applied."""
    for environ in ({}, {"LOCKERNET_CENTRAL__BROKER__CLIENT_ID": "central-2"}):
        config = load_config(write(tmp_path, TWO), environ=environ)
        again = parse_config(config.model_dump(mode="json"), environ={})
        assert again.broker_list == config.broker_list
    single = parse_config({"broker": {"port": 1884}}, environ={})
    assert parse_config(single.model_dump(mode="json")).broker_list == single.broker_list


@pytest.mark.parametrize(
    ("text", "named"),
    [
        # Both forms: the keys of [broker] and the brokers' addresses are named.
        ("[broker]\nport = 1884\n" + TWO, "broker.port"),
        ("[broker]\nport = 1884\n" + TWO, "10.0.0.1:8883"),
        (TWO.replace('"south"', '"north"'), "brokers[1].name 'north' (10.0.0.2:8883)"),
        (TWO.replace("10.0.0.2", "10.0.0.1"), "brokers[1] (south) has the host:port 10.0.0.1"),
        (TWO.replace('"south"', '"so uth"'), "brokers.1.name"),
        (TWO + "[ingest]\nbatch_size = 5000\n", "brokers[0].receive_maximum (2000, 10.0.0.1"),
        (TWO.replace('host = "10.0.0.2"', 'hots = "x"'), "brokers.1.hots"),
    ],
)
def test_a_bad_brokers_list_is_refused_naming_the_key(
    tmp_path: Path, text: str, named: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), environ={})
    assert named in str(caught.value)


# ------------------------------------------------- liveness per broker, no broker needed

T0 = 1_800_000_000.0
LIVENESS = LivenessConfig(stale_after_s=60.0)
TOPICS = Topics("lockernet-test/brokers/v1")


def heard_on(store: SqliteStore, site: str, broker: str | None, at: float = T0) -> None:
    with store.transaction() as session:
        liveness.heard(session, site, at)
        record = session.get_site(site)
        assert record is not None
        session.save_site(dataclasses.replace(record, broker=broker))


def hearing(name: str, since: float | None, away: float | None = None) -> BrokerHearing:
    return BrokerHearing(name, f"10.0.0.{len(name)}:1883", "central-1", since, away)


def online_of(store: SqliteStore) -> dict[str, bool | None]:
    with store.transaction() as session:
        return {s.site: s.online for s in session.list_sites()}


def test_a_site_is_judged_only_while_its_own_broker_is_heard(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "central.sqlite")
    heard_on(store, "L0001", "a")
    heard_on(store, "L0002", "b")
    heard_on(store, "L0003", None)  # heard before central knew brokers (or never on one)
    late = T0 + 120
    with store.transaction() as session:
        # Broker a is down: its site, and the one whose broker is unknown, are not judged.
        called = liveness.check_stale(session, late, {"a": None, "b": T0}, LIVENESS)
    assert called == ["L0002"]
    with store.transaction() as session:
        # Both heard again, a only since a moment ago: silence on a counts from then, and
        # for the site whose broker is unknown from the latest of the brokers' connects.
        called = liveness.check_stale(session, late, {"a": late - 1, "b": T0}, LIVENESS)
    assert called == []
    with store.transaction() as session:
        called = liveness.check_stale(session, late + 60, {"a": late - 1, "b": T0}, LIVENESS)
    assert called == ["L0001", "L0003"]


def test_an_unreachable_broker_is_one_alarm_and_its_sites_unknown(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "central.sqlite")
    for site in ("L0001", "L0002"):
        heard_on(store, site, "a")
    heard_on(store, "L0003", "b")
    down = [hearing("a", None, away=T0), hearing("b", T0)]
    with store.transaction() as session:
        assert liveness.check_brokers(session, T0 + 59, down, LIVENESS) == []  # not yet
        assert liveness.check_brokers(session, T0 + 61, down, LIVENESS) == ["a"]
        assert liveness.check_brokers(session, T0 + 90, down, LIVENESS) == []  # raised once
        [alarm] = session.list_alarms()
    assert (alarm.site, alarm.kind, alarm.ref) == (
        broker_alarm_site("a"),
        AlarmKind.BROKER_UNREACHABLE,
        "central-1",
    )
    assert alarm.detail is not None and "10.0.0.1:1883" in alarm.detail
    assert online_of(store) == {"L0001": None, "L0002": None, "L0003": True}

    # Back: the alarm clears; a site heard is online; one that stays silent past the limit
    # after the reconnect is called offline as any other.
    back = [hearing("a", T0 + 100), hearing("b", T0)]
    heard_on(store, "L0001", "a", at=T0 + 101)
    heard_on(store, "L0003", "b", at=T0 + 101)  # b's site went on being heard
    with store.transaction() as session:
        liveness.check_brokers(session, T0 + 101, back, LIVENESS)
        assert session.list_alarms() == []
        since = {b.name: b.listening_since for b in back}
        assert liveness.check_stale(session, T0 + 150, since, LIVENESS) == []
        assert liveness.check_stale(session, T0 + 160.5, since, LIVENESS) == ["L0002"]
    assert online_of(store)["L0001"] is True


def test_the_broker_a_site_is_heard_on_is_written_when_it_changes(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "central.sqlite")
    heard_on(store, "L0001", None)
    brokers = SiteBrokers(store, TOPICS)

    def on(broker: str, *, retained: bool = False) -> tuple[Delivery, AckToken]:
        topic = TOPICS.site("L0001", SiteChannel.HEARTBEAT)
        return Delivery(topic, b"{}", retained=retained), AckToken(1, 1, 0, broker)

    assert brokers.note([on("a"), on("a")]) == {"L0001": "a"}
    assert brokers.note([on("a")]) == {}  # known: no read, no write
    assert brokers.note([on("b", retained=True)]) == {}  # a replay says where it once was
    assert brokers.note([on("b")]) == {"L0001": "b"}  # moved to another shard
    with store.transaction() as session:
        record = session.get_site("L0001")
    assert record is not None and record.broker == "b"


def test_a_site_keeps_an_event_its_broker_took_for_no_subscriber(tmp_path: Path) -> None:
    """The edge outbox's side of a broker's restart: PUBACK 0x10 (no matching subscribers,
    central's subscription not back yet) leaves the row for the next drain; 0x00 takes it."""
    store = Store(tmp_path / "site.sqlite", "L0001")
    with store.transaction() as tx:
        tx.emit(DoorClosed(slot="A", occupied=False), T0)
    publisher = OutboxPublisher(
        store, ManualClock(T0), LinkStats(), inflight_limit=10, republish_after_s=30.0
    )
    [row] = store.pending()
    clock = publisher.clock
    assert isinstance(clock, ManualClock)
    publisher.stats.inflight[7] = (row.seq, clock.monotonic())
    publisher.acknowledged(7, ReasonCode(PacketTypes.PUBACK, identifier=NO_MATCHING_SUBSCRIBERS))
    assert store.pending_count() == 1 and publisher.stats.unheard == 1
    # Sent again only once republish_after_s has passed, not with every drain: a site whose
    # central is away must not resend its backlog on each new event.
    sent: list[bytes] = []

    class Client:
        def publish(self, topic: str, payload: bytes, qos: int) -> SimpleNamespace:
            sent.append(payload)
            return SimpleNamespace(rc=MQTTErrorCode.MQTT_ERR_SUCCESS, mid=100 + len(sent))

    publisher.drain(cast(mqtt.Client, Client()), "t")
    assert sent == []
    clock.advance(31.0)
    publisher.drain(cast(mqtt.Client, Client()), "t")
    assert sent == [row.message]
    publisher.stats.inflight.clear()
    publisher.stats.inflight[8] = (row.seq, T0)
    publisher.acknowledged(8, ReasonCode(PacketTypes.PUBACK, identifier=0))
    assert store.pending_count() == 0
    store.close()


# ------------------------------------------------------------------- two real brokers

STALE_S = 2.0  # liveness.stale_after_s in these tests
BEAT_S = 0.3
SLOTS = "AB"
ON_A = ("L0101", "L0102")
ON_B = ("L0201",)


class Spy:
    """A plain MQTT client on one broker that records what it hears."""

    def __init__(self, broker: PrivateBroker, *topics: str) -> None:
        self.heard: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"spy-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        self.client.on_connect = lambda c, *_: c.subscribe([(t, 1) for t in topics])
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert self._subscribed.wait(10), "the spy could not subscribe"

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.heard.append((message.topic, bytes(message.payload), bool(message.retain)))

    def topics(self) -> list[str]:
        with self._lock:
            return [t for t, _, _ in self.heard]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class ShardedSite:
    """A rig site with an outbox, as the edge agent's (edge/uplink/outbox_publisher.py):
    events written while its broker is away are kept and published when it is back, and an
    event the broker took for no subscriber (PUBACK 0x10: central's subscription not yet in
    place after the broker's restart) is kept and published again."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.log = SiteEvents(site.site, at=time.time())
        self.outbox: list[Event] = []
        self.last_sent: Event | None = None
        self.unheard = 0
        self._reasons: dict[int, int] = {}
        site.client.on_publish = self._on_publish
        # Back soon after its broker: the test's wait for it is short.
        site.client.reconnect_delay_set(1, 1)

    def _on_publish(self, _c: mqtt.Client, _u: object, mid: int, reason: Any, _p: Any) -> None:
        self._reasons[mid] = reason.value

    def write_events(self, pairs: int) -> None:
        for _ in range(pairs):
            self.outbox.append(self.log.door_left_open("A"))
            self.outbox.append(self.log.door_closed("A"))

    def _publish_first(self) -> bool:
        """Publish the outbox's first event; True once the broker took it for a subscriber."""
        topic = self.site.topic(SiteChannel.EVENTS)
        info = self.site.client.publish(topic, encode(self.outbox[0]), qos=1)
        reason = eventually(lambda: self._reasons.get(info.mid, -1) + 1, what="a PUBACK") - 1
        if reason == NO_MATCHING_SUBSCRIBERS:
            self.unheard += 1
            return False
        assert reason == 0, f"the broker refused an event: {reason:#x}"
        self.last_sent = self.outbox.pop(0)
        return True

    def flush(self) -> None:
        """Publish the outbox in order (QoS 1, each after the broker's PUBACK)."""
        while self.outbox:
            eventually(self._publish_first, 30, "central's subscription", interval=0.2)

    def beat(self) -> None:
        beat = Heartbeat(
            site=self.site.site,
            boot_id="boot1",
            at=time.time(),
            last_seq=self.log.seq,
            interval_s=BEAT_S,
        )
        self.site.client.publish(self.site.topic(SiteChannel.HEARTBEAT), encode(beat), qos=0)


@pytest.fixture
def two_brokers(tmp_path: Path) -> Iterator[tuple[PrivateBroker, PrivateBroker]]:
    with (
        PrivateBroker(tmp_path / "broker-a") as a,
        PrivateBroker(tmp_path / "broker-b") as b,
    ):
        yield a, b


def two_broker_config(
    tmp_path: Path, a: PrivateBroker, b: PrivateBroker, topics: Topics
) -> CentralConfig:
    client_id = f"central-{uuid.uuid4().hex[:8]}"
    data: dict[str, Any] = {
        "brokers": [
            {"name": "a", "host": a.host, "port": a.port, "client_id": client_id},
            {"name": "b", "host": b.host, "port": b.port, "client_id": client_id},
        ],
        "topics": {"root": topics.root},
        "store": {"path": str(tmp_path / "central.sqlite")},
        "pickup": {"notify_folder": str(tmp_path / "outbox")},
        # A heartbeat that comes back ahead of the outbox's events opens a gap; the events
        # follow within milliseconds, well inside this: no resend is needed.
        "ingest": {"flush_interval_s": 0.02, "gap_timeout_s": 5.0},
        "liveness": {"stale_after_s": STALE_S},
        "service": {"tick_interval_s": 0.05},
    }
    return parse_config(data, "test config", environ={})


def sites_of(central: CentralService) -> dict[str, SiteRecord]:
    with central.store.transaction() as session:
        return {s.site: s for s in session.list_sites()}


def open_alarms(central: CentralService) -> list[AlarmRecord]:
    with central.store.transaction() as session:
        return session.list_alarms()


def applied(central: CentralService, site: str) -> int:
    with central.store.transaction() as session:
        return session.stream(site).applied_seq


@pytest.mark.broker
def test_a_broker_killed_takes_only_its_own_sites_and_loses_none_of_their_events(
    tmp_path: Path, two_brokers: tuple[PrivateBroker, PrivateBroker], topics: Topics
) -> None:
    broker_a, broker_b = two_brokers
    signer = TokenSigner.generate()
    config = two_broker_config(tmp_path, broker_a, broker_b, topics)
    central = CentralService(config, signer=signer, network=None)
    running = [central]
    spies: list[Spy] = []
    sites: dict[str, ShardedSite] = {}
    stop_beats = threading.Event()

    def beat_all() -> None:
        while not stop_beats.wait(BEAT_S):
            for sharded in list(sites.values()):
                sharded.beat()

    beats = threading.Thread(target=beat_all, name="heartbeats", daemon=True)
    try:
        central.start()
        assert central.connected, "central did not connect to both brokers"
        # Each broker carries central's retained status: every shard's sites read it.
        status_a = Spy(broker_a, topics.central_status())
        status_b = Spy(broker_b, topics.central_status())
        spies += [status_a, status_b]
        eventually(lambda: status_a.heard and status_b.heard, what="central's status on both")

        for site_id in ON_A + ON_B:
            broker = broker_a if site_id in ON_A else broker_b
            rig = Site(broker, topics, site_id, verifier=signer.verifier()).connect()
            rig.status(True)
            free = [(s, SizeClass.S, SlotState.FREE, None) for s in SLOTS]
            rig.state(snapshot(site_id, free, at=time.time()))
            sites[site_id] = ShardedSite(rig)
        beats.start()
        for sharded in sites.values():
            sharded.write_events(3)
            sharded.flush()
        for site_id, sharded in sites.items():
            eventually(lambda s=site_id, n=sharded.log.seq: applied(central, s) == n)
        # Central learnt each site's broker from the session it heard the site on.
        known = eventually(
            lambda: (
                (found := sites_of(central))
                and all(found[s].broker == "a" for s in ON_A)
                and all(found[s].broker == "b" for s in ON_B)
                and found
            )
        )
        assert known

        # A command to a site goes out on its own broker only: a spy on the other broker
        # sees it not; a command to B's site after it is the sentinel for that.
        commands = topics.all_sites(SiteChannel.COMMANDS)
        on_a, on_b = Spy(broker_a, commands), Spy(broker_b, commands)
        spies += [on_a, on_b]
        central.sender.send(ON_A[0], RunDiagnostics())
        central.sender.send(ON_B[0], RunDiagnostics())
        eventually(lambda: sites[ON_A[0]].site.commands_of("run_diagnostics"))
        eventually(lambda: sites[ON_B[0]].site.commands_of("run_diagnostics"))
        eventually(lambda: topics.site(ON_B[0], SiteChannel.COMMANDS) in on_b.topics())
        assert topics.site(ON_A[0], SiteChannel.COMMANDS) in on_a.topics()
        assert topics.site(ON_A[0], SiteChannel.COMMANDS) not in on_b.topics()
        assert topics.site(ON_B[0], SiteChannel.COMMANDS) not in on_a.topics()
        # A site never heard yet: on every broker (it subscribes on its own only).
        central.sender.send("L0999", RunDiagnostics())
        unheard = topics.site("L0999", SiteChannel.COMMANDS)
        eventually(lambda: unheard in on_a.topics() and unheard in on_b.topics())

        # Broker a dies (-9). Its sites keep working offline, writing to their outboxes;
        # b's sites go on as before.
        before = {s: applied(central, s) for s in sites}
        broker_a.kill()
        for sharded in sites.values():
            sharded.write_events(2)
        for site_id in ON_B:
            sites[site_id].flush()
        alarm_site = broker_alarm_site("a")
        eventually(
            lambda: any(
                a.site == alarm_site and a.kind == AlarmKind.BROKER_UNREACHABLE
                for a in open_alarms(central)
            ),
            what="the broker_unreachable alarm of broker a",
        )
        for site_id in ON_B:
            eventually(lambda s=site_id: applied(central, s) == sites[s].log.seq)
        # Past the silence limit: a's sites are unknown (the alarm says why), not offline;
        # b's are online and their events applied meanwhile.
        now = sites_of(central)
        assert all(now[s].online is None for s in ON_A)
        assert all(now[s].online is True for s in ON_B)
        offline = [a for a in open_alarms(central) if a.kind == AlarmKind.SITE_OFFLINE]
        assert offline == [], "no site is called offline for its broker's death"
        assert all(applied(central, s) == before[s] for s in ON_A)

        # Broker a comes back (same port and data folder): its sites reconnect and their
        # outboxes publish what they wrote meanwhile, and once more the last event the
        # broker took before it died (its PUBACK may have been lost with it).
        broker_a.start()
        for site_id in ON_A:
            sharded = sites[site_id]
            eventually(sharded.site.client.is_connected, 30, f"{site_id} back on broker a")
            assert sharded.last_sent is not None
            sharded.outbox.insert(0, sharded.last_sent)
            sharded.flush()
        for site_id, sharded in sites.items():
            eventually(lambda s=site_id, n=sharded.log.seq: applied(central, s) == n, 30)
        eventually(
            lambda: all(sites_of(central)[s].online is True for s in ON_A),
            what="a's sites online again",
        )
        eventually(
            lambda: not any(a.kind == AlarmKind.BROKER_UNREACHABLE for a in open_alarms(central)),
            30,
            "broker a's alarm cleared",
        )
        # Every event once: applied once each, the republished one counted a duplicate.
        total = sum(s.log.seq for s in sites.values())
        eventually(lambda: central.ingest.totals["applied"] == total)
        assert central.ingest.totals["duplicates"] >= len(ON_A)
        # ...and no state resend was asked of anyone.
        for site_id, sharded in sites.items():
            assert sharded.site.commands_of("resend_state") == []
            with central.store.transaction() as session:
                assert [c for c in session.commands_to(site_id) if c.type == "resend_state"] == []
        assert [a for a in open_alarms(central) if a.kind == AlarmKind.SITE_OFFLINE] == []

        # Each message was acknowledged on the session it came on: a central started again
        # with the same sessions is given nothing again (a sentinel event per site after).
        running.remove(central)
        central.stop()
        again = CentralService(config, signer=signer, network=None)
        running.append(again)
        again.start()
        assert again.connected
        for sharded in sites.values():
            sharded.write_events(1)
            sharded.flush()
        for site_id, sharded in sites.items():
            eventually(lambda s=site_id, n=sharded.log.seq: applied(again, s) == n)
        assert again.ingest.totals["duplicates"] == 0, "a message was left unacknowledged"
    finally:
        stop_beats.set()
        for spy in spies:
            spy.close()
        for sharded in sites.values():
            sharded.site.close()
        for service in running:
            service.stop()


def test_a_broker_that_cannot_be_reached_is_logged_once_naming_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from central.broker.launcher import free_port
    from central.service.broker_session import BrokerSession

    port = free_port()  # nothing listens there
    config = load_config(
        write(tmp_path, f'[[brokers]]\nname = "far"\nhost = "127.0.0.1"\nport = {port}\n'),
        environ={},
    )
    [broker] = config.broker_list
    session = BrokerSession(
        config,
        broker,
        topics=Topics(config.topics.root),
        clock=ManualClock(T0),
        status=lambda online: b"{}",
        stopping=threading.Event(),
        deliver=lambda delivery, token: None,
        reply_heard=lambda reply: None,
    )
    attempts: list[float] = []
    logged = session.client.on_connect_fail

    def counted(client: mqtt.Client, userdata: object) -> None:
        logged(client, userdata)
        attempts.append(time.monotonic())

    session.client.on_connect_fail = counted
    caplog.set_level(logging.WARNING, logger="central.service.broker_session")
    session.connect(None)
    try:
        eventually(lambda: len(attempts) >= 2, what="a second failed connect (paced)")
    finally:
        session.client.loop_stop()
    said = [r.getMessage() for r in caplog.records if "cannot reach broker" in r.getMessage()]
    # One line for the outage's first attempt, naming the broker, host:port and the reason.
    assert len(said) == 1
    assert said[0].startswith(f"cannot reach broker far (127.0.0.1:{port}): ConnectionRefused")
    assert attempts[1] - attempts[0] > 0.5  # paced, not a busy loop
