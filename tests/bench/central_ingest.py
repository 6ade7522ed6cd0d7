"""Benchmark: events per second central ingests AND commits, with 1 and 2 central processes,
on SQLite and on PostgreSQL, each beside a raw paho subscriber's messages per second on the
same broker in the same run; and the latency of a fleet read taken while ingest runs.

    .venv/bin/python tests/bench/central_ingest.py [--sites 100] [--events-per-site 250]
        [--stores sqlite,postgresql] [--centrals 1,2] [--sharded postgresql]
        [--batch-size 500]

Every consumer is measured the same way: its persistent MQTT 5 session is subscribed first
and then disconnected, the sites' events are published and queued by the broker, and the
consumer reconnects and drains the queue. So the publishers' speed is not measured, only
the consumer's. The raw subscriber receives and acknowledges (QoS 1, shared subscription).
Central, in one process per member (as `lockernet central run`), receives, stores each event
under its (site, seq) key, applies it in sequence order (parcel lifecycle, slots, tallies,
alarms, follow-up tasks) and commits before it acknowledges; with two processes each drains
its share of the shared subscription and either applies what the other stored out of order.
Follow-up tasks (pickup codes) are left for after the run (no timer ticks).

The sharded scenario (`--sharded`, per store; "" for none) splits the sites over two
private brokers, half each, and runs two central processes, each consuming only its own
broker (its `[[brokers]]` lists that one): docs/central.md's claim that sharding by broker
lets a second process share ingest. Its raw baseline is a raw subscriber per broker,
draining together; its time runs from the first one's connect to the last one's end.
Every raw subscriber drains in a process of its own, as each central member does.

Each scenario (a store and a number of central processes) gets a fresh topic root and a
fresh store, and its own raw measurement just before it, so each ratio compares consumers
on the same broker and the same machine load. While central drains, this process reads
`lockernet fleet`'s view through central's read path (`open_reader`, then
`central.operator.fleet.fleet`), every `--read-interval-s`, and reports the p50/p99.

PostgreSQL is a private server in a temporary folder on a free port (tests/postgres.py,
durable like SQLite's commits), never the machine's own. Prints one JSON object on its last
line.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import queue
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402

from central.broker import PrivateBroker  # noqa: E402
from central.operator.fleet import fleet  # noqa: E402
from central.parcels.manifest import ParcelAnnouncement  # noqa: E402
from central.parcels.pickup_codes import Notification, PickupNotice  # noqa: E402
from central.parcels.steps import announce  # noqa: E402
from central.service.config import parse_config  # noqa: E402
from central.service.service import CentralService  # noqa: E402
from central.sites import registry  # noqa: E402
from central.sites.network import Network, NetworkSite  # noqa: E402
from central.store.open import open_reader, open_store  # noqa: E402
from protocols.clock import SystemClock  # noqa: E402
from protocols.labels import make_s10  # noqa: E402
from protocols.messages import (  # noqa: E402
    DoorClosed,
    DoorOpened,
    DoorOpenReason,
    Event,
    ParcelDeposited,
    ParcelPickedUp,
    SiteKind,
    SizeClass,
    encode,
)
from protocols.tokens import TokenSigner  # noqa: E402
from protocols.topics import SiteChannel, Topics  # noqa: E402

PUBLISHERS = 4
DRAIN_TIMEOUT_S = 600.0
CHILD_TIMEOUT_S = 120.0  # a central process to build itself, subscribe, or stop
# What central logs once a broker granted its subscriptions (central/service/broker_session.py).
SUBSCRIBED_LINE = "subscribed to the sites"
SESSION_EXPIRY_S = 3600  # the raw subscriber's and central's: the queue outlives the gap
STORES = ("sqlite", "postgresql")
SHARDS = 2  # the sharded scenario's brokers, and its central processes (one on each)


class NoNotifier:
    def notify(self, notice: PickupNotice) -> Notification:
        return Notification(notice.issued.parcel, 0)


def site_events(site: str, count: int, first_parcel: int) -> list[Event]:
    """A locker's stream: deposit, door events, pickup, over and over (half are parcel
    events that move a parcel's lifecycle)."""
    events: list[Event] = []
    seq, n, at = 0, first_parcel, 1_800_000_000.0
    while len(events) < count:
        parcel = make_s10("RR", n, "CN")
        slot = f"S{n % 40}"
        for payload in (
            ParcelDeposited(
                parcel=parcel, slot=slot, courier="K1", size=SizeClass.S, reserved=True
            ),
            DoorClosed(slot=slot, occupied=True),
            DoorOpened(slot=slot, reason=DoorOpenReason.PICKUP),
            ParcelPickedUp(parcel=parcel, slot=slot, code_id="0" * 16),
        ):
            seq += 1
            at += 1
            events.append(Event(site=site, seq=seq, id=f"{site}-{seq}", at=at, payload=payload))
        n += 1
    return events[:count]


def announced(label: str) -> ParcelAnnouncement:
    return ParcelAnnouncement(
        label=label,
        size=SizeClass.S,
        weight_kg=1.0,
        dest_postal_code="520101",
        dest_lat=1.35,
        dest_lon=103.8,
        consumer_name="Consumer",
        dispatched_at=1_799_900_000.0,
    )


def bench_network(sites: int) -> Network:
    return Network(
        sites=[
            NetworkSite(
                id=f"L{i:04d}",
                kind=SiteKind.LOCKER,
                name=f"Locker {i}",
                lat=1.35,
                lon=103.8,
                postal_code="520001",
                compartments={SizeClass.S: 40},
            )
            for i in range(1, sites + 1)
        ],
        partners=[],
        couriers=[],
    )


# --------------------------------------------------------------------- the raw subscriber


def session_client(client_id: str) -> tuple[mqtt.Client, Properties]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = SESSION_EXPIRY_S
    return client, props


def prime_raw(broker: PrivateBroker, topics: Topics, client_id: str) -> None:
    """Create the raw subscriber's persistent session and subscription, then leave."""
    done = threading.Event()
    client, props = session_client(client_id)
    client.on_subscribe = lambda *_a: done.set()
    client.on_connect = lambda c, *_a: c.subscribe(topics.shared_events("raw"), qos=1)
    client.connect(broker.host, broker.port, clean_start=False, properties=props)
    client.loop_start()
    assert done.wait(10)
    client.disconnect()
    client.loop_stop()


def drain_raw(host: str, port: int, client_id: str, expected: int, replies: Any) -> None:
    """Drain a primed session's `expected` messages (spawned); reply (start, end) on the
    monotonic clock, which every process shares."""
    received = 0
    done = threading.Event()
    client, props = session_client(client_id)

    def on_message(*_args: object) -> None:
        nonlocal received
        received += 1
        if received >= expected:
            done.set()

    client.on_message = on_message
    start = time.monotonic()
    client.connect(host, port, clean_start=False, properties=props)
    client.loop_start()
    if not done.wait(DRAIN_TIMEOUT_S):
        replies.put(f"raw subscriber got {received} of {expected} messages")
        return
    end = time.monotonic()
    client.disconnect()
    client.loop_stop()
    replies.put((start, end))


def drain_raw_together(drains: list[tuple[PrivateBroker, str, int]]) -> float:
    """Drain each (broker, client id, expected) in a process of its own, at once: seconds
    from the first connect to the last message."""
    context = multiprocessing.get_context("spawn")
    replies: Any = context.Queue()
    processes = [
        context.Process(target=drain_raw, args=(b.host, b.port, client_id, n, replies))
        for b, client_id, n in drains
    ]
    for process in processes:
        process.start()
    spans: list[Any] = [replies.get(timeout=DRAIN_TIMEOUT_S + CHILD_TIMEOUT_S) for _ in processes]
    for process in processes:
        process.join(CHILD_TIMEOUT_S)
    for span in spans:
        if isinstance(span, str):
            raise SystemExit(span)
    return float(max(end for _, end in spans) - min(start for start, _ in spans))


def publish_all(broker: PrivateBroker, topics: Topics, events: list[Event]) -> float:
    """Publish every event at QoS 1 from a few connections (topics per site, as sites do)."""
    start = time.perf_counter()
    chunks = [events[i::PUBLISHERS] for i in range(PUBLISHERS)]

    def run(chunk: list[Event]) -> None:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"bench-pub-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)
        client.connect(broker.host, broker.port)
        client.loop_start()
        infos = [
            client.publish(topics.site(e.site, SiteChannel.EVENTS), encode(e), qos=1) for e in chunk
        ]
        for info in infos:
            info.wait_for_publish(DRAIN_TIMEOUT_S)
        client.disconnect()
        client.loop_stop()

    threads = [threading.Thread(target=run, args=(c,)) for c in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


# ----------------------------------------------------------------- central's processes


class _Subscribed(logging.Handler):
    """Tells the parent once central's broker session logged its granted subscriptions."""

    def __init__(self, replies: Any) -> None:
        super().__init__(logging.INFO)
        self._replies = replies

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith(SUBSCRIBED_LINE):
            self._replies.put(("subscribed",))


def central_member(
    config: dict[str, Any], network: Network, signing_pem: bytes, requests: Any, replies: Any
) -> None:
    """A central process (spawned): built, then started on "start", stopped on "stop";
    reports each committed batch's size."""
    logging.basicConfig(level=logging.WARNING)
    for handler in logging.getLogger().handlers:
        handler.setLevel(logging.WARNING)  # the session's INFO lines reach _Subscribed only
    session_log = logging.getLogger("central.service.broker_session")
    session_log.setLevel(logging.INFO)
    session_log.addHandler(_Subscribed(replies))
    parsed = parse_config(config, environ={})
    service = CentralService(
        parsed,
        clock=SystemClock(),
        signer=TokenSigner.from_pem(signing_pem),
        network=network,
        notifier=NoNotifier(),
        store=open_store(parsed.store),
    )
    service.on_commit = lambda count: replies.put(("commit", count))
    replies.put(("built",))
    if requests.get() != "start":
        return
    service.start()
    requests.get()  # "stop"
    service.stop()
    replies.put(("stopped", service.committed_batches))


class Members:
    """N central processes on one config (each its own client id), driven over queues."""

    def __init__(self, configs: list[dict[str, Any]], network: Network, pem: bytes) -> None:
        context = multiprocessing.get_context("spawn")
        self.replies: Any = context.Queue()
        self._requests = [context.Queue() for _ in configs]
        self._processes = [
            context.Process(
                target=central_member,
                args=(config, network, pem, requests, self.replies),
                name=f"central-{i + 1}",
            )
            for i, (config, requests) in enumerate(zip(configs, self._requests, strict=True))
        ]
        for process in self._processes:
            process.start()
        self.wait_for("built")

    def wait_for(self, kind: str) -> list[tuple[Any, ...]]:
        """One `kind` reply from every member (commits meanwhile are not expected)."""
        got: list[tuple[Any, ...]] = []
        while len(got) < len(self._processes):
            try:
                reply = self.replies.get(timeout=CHILD_TIMEOUT_S)
            except queue.Empty:
                raise SystemExit(
                    f"central processes: no {kind!r} within {CHILD_TIMEOUT_S}s"
                ) from None
            if reply[0] == kind:
                got.append(reply)
        return got

    def tell(self, request: str) -> None:
        for requests in self._requests:
            requests.put(request)

    def stop(self) -> int:
        """Stop every member; the batches they committed, together."""
        self.tell("stop")
        batches = int(sum(reply[1] for reply in self.wait_for("stopped")))
        for process in self._processes:
            process.join(CHILD_TIMEOUT_S)
        return batches


# ------------------------------------------------------------------------ fleet reads


def read_fleet_until(location: str, done: threading.Event, interval_s: float) -> list[float]:
    """`lockernet fleet`'s read (open the reader, build the fleet view) every `interval_s`
    until `done` is set; each one's seconds."""
    took: list[float] = []
    while not done.is_set():
        start = time.perf_counter()
        with open_reader(location) as reader:
            fleet(reader.view)
        took.append(time.perf_counter() - start)
        done.wait(interval_s)
    return took


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round((len(ordered) - 1) * pct / 100))]


# --------------------------------------------------------------------------- scenarios


@contextmanager
def private_postgres(wanted: bool) -> Iterator[Any]:
    if not wanted:
        yield None
        return
    from tests.postgres import PrivatePostgres

    # Durable (fsync, synchronous commit), as SQLite's commits here are: like for like.
    with PrivatePostgres(durable=True) as server:
        yield server


def fresh_store(kind: str, folder: Path, server: Any) -> str:
    """A new, empty store's location (a SQLite path or a PostgreSQL url)."""
    if kind == "postgresql":
        url: str = server.create_database()
        return url
    return str(folder / f"central-{uuid.uuid4().hex[:8]}.sqlite")


def store_section(location: str) -> dict[str, str]:
    return {"url": location} if location.startswith("postgresql") else {"path": location}


def broker_sections(brokers: list[PrivateBroker], centrals: int) -> list[dict[str, Any]]:
    """Each central process's broker settings: one broker as the deployed `[broker]`, or,
    sharded, the process's own broker alone as its `[[brokers]]` (process i on broker
    i mod the number of brokers)."""
    sections: list[dict[str, Any]] = []
    for i in range(centrals):
        broker = brokers[i % len(brokers)]
        section = {
            "host": broker.host,
            "port": broker.port,
            "client_id": f"bench-central-{i + 1}",
            "session_expiry_s": SESSION_EXPIRY_S,
        }
        if len(brokers) == 1:
            sections.append({"broker": section})
        else:
            sections.append({"brokers": [{"name": f"shard{i % len(brokers) + 1}", **section}]})
    return sections


def shard_events(events: list[Event], sites: list[str], shards: int) -> list[list[Event]]:
    """The events each broker carries: the sites split in order, an equal share each."""
    shard_of = {site: i * shards // len(sites) for i, site in enumerate(sites)}
    return [[e for e in events if shard_of[e.site] == n] for n in range(shards)]


def run_scenario(  # noqa: PLR0917 - one scenario's whole setting
    brokers: list[PrivateBroker],
    location: str,
    centrals: int,
    events: list[Event],
    network: Network,
    args: argparse.Namespace,
    folder: Path,
) -> dict[str, Any]:
    total = len(events)
    # Other work on the machine moves every figure: the 1-minute load as the scenario starts.
    load = os.getloadavg()[0]
    parcels = {e.payload.parcel for e in events if isinstance(e.payload, ParcelDeposited)}
    # A site's stream may end between a deposit and its pickup (--events-per-site not a
    # multiple of 4): those parcels stay deposited.
    picked = sum(isinstance(e.payload, ParcelPickedUp) for e in events)
    shards = shard_events(events, [s.id for s in network.sites], len(brokers))

    # --- the raw subscribers, one per broker, on the same brokers, just before
    raw_topics = Topics(f"bench-{uuid.uuid4().hex[:8]}/v1")
    drains = []
    for broker, share in zip(brokers, shards, strict=True):
        raw_id = f"bench-raw-{uuid.uuid4().hex[:8]}"
        prime_raw(broker, raw_topics, raw_id)
        publish_all(broker, raw_topics, share)
        drains.append((broker, raw_id, len(share)))
    raw_s = drain_raw_together(drains)

    # --- central
    topics = Topics(f"bench-{uuid.uuid4().hex[:8]}/v1")
    base = {
        "topics": {"root": topics.root},
        "store": store_section(location),
        "pickup": {"notify_folder": str(folder / "outbox")},
        "ingest": {"batch_size": args.batch_size},
        "service": {"tick_interval_s": 60},
    }
    configs = [{**base, **section} for section in broker_sections(brokers, centrals)]
    store = open_store(parse_config(configs[0], environ={}).store)
    with store.transaction() as session:
        registry.load_network(session, network)
    with store.transaction() as session:
        for label in parcels:
            announce(session, announced(label), 0.0)
    store.close()
    pem = TokenSigner.generate().private_pem()

    primers = Members(configs, network, pem)  # create the sessions and the shared subscription
    primers.tell("start")
    primers.wait_for("subscribed")
    primers.stop()
    for broker, share in zip(brokers, shards, strict=True):
        publish_all(broker, topics, share)

    members = Members(configs, network, pem)
    drained = threading.Event()
    reads: list[float] = []
    reader = threading.Thread(
        target=lambda: reads.extend(read_fleet_until(location, drained, args.read_interval_s))
    )
    committed = 0
    start = time.perf_counter()
    members.tell("start")
    reader.start()
    try:
        while committed < total:
            try:
                reply = members.replies.get(timeout=DRAIN_TIMEOUT_S)
            except queue.Empty:
                raise SystemExit(f"central committed {committed} of {total} events") from None
            if reply[0] == "commit":
                committed += reply[1]
        central_s = time.perf_counter() - start
    finally:
        drained.set()
        reader.join()
    batches = members.stop()

    with open_reader(location) as check:
        applied = sum(s.applied_seq for s in check.view.list_streams())
        collected = check.parcel_states().get("collected", 0)
    if applied != total or collected != picked:
        raise SystemExit(f"central applied {applied}/{total}, collected {collected}")
    raw_rate, central_rate = total / raw_s, total / central_s
    return {
        "store": "postgresql" if location.startswith("postgresql") else "sqlite",
        "centrals": centrals,
        "brokers": len(brokers),
        "load_1m_at_start": round(load, 2),
        "raw_paho_msgs_per_s": round(raw_rate),
        "central_events_per_s": round(central_rate),
        "central_to_raw_ratio": round(central_rate / raw_rate, 3),
        "raw_paho_seconds": round(raw_s, 3),
        "central_seconds": round(central_s, 3),
        "central_batches": batches,
        "fleet_reads": len(reads),
        "fleet_read_p50_ms": round(statistics.median(reads) * 1000, 1) if reads else None,
        "fleet_read_p99_ms": round(percentile(reads, 99) * 1000, 1) if reads else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--events-per-site", type=int, default=250)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--stores", default=",".join(STORES), help="sqlite,postgresql")
    parser.add_argument("--centrals", default="1,2", help="central processes per scenario")
    parser.add_argument(
        "--sharded",
        default="postgresql",
        help="stores for 2 centrals on 2 brokers, each its own ('' for none)",
    )
    parser.add_argument(
        "--read-interval-s", type=float, default=0.1, help="between two fleet reads"
    )
    args = parser.parse_args()
    stores = [s for s in args.stores.split(",") if s]
    sharded = [s for s in args.sharded.split(",") if s]
    if not set(stores) | set(sharded) <= set(STORES):
        parser.error(f"--stores, --sharded: choose from {', '.join(STORES)}")
    counts = [int(n) for n in args.centrals.split(",") if n]
    # (store, central processes, brokers)
    plan = [(kind, n, 1) for kind in stores for n in counts]
    plan += [(kind, SHARDS, SHARDS) for kind in sharded]

    network = bench_network(args.sites)
    streams = [
        site_events(site.id, args.events_per_site, 1 + i * args.events_per_site)
        for i, site in enumerate(network.sites)
    ]
    # Interleave sites as the broker would see them arriving from a fleet.
    events = [e for batch in zip(*streams, strict=True) for e in batch]
    scenarios = []
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory() as tmp,
        PrivateBroker(Path(tmp) / "broker") as broker,
        PrivateBroker(Path(tmp) / "broker-2") as second,
        private_postgres(any(kind == "postgresql" for kind, _, _ in plan)) as server,
    ):
        for kind, centrals, shards in plan:
            location = fresh_store(kind, Path(tmp), server)
            brokers = [broker, second][:shards]
            result = run_scenario(brokers, location, centrals, events, network, args, Path(tmp))
            print(json.dumps(result), file=sys.stderr, flush=True)
            scenarios.append(result)
    report = {
        "benchmark": "central_ingest",
        "sites": args.sites,
        "events": len(events),
        "batch_size": args.batch_size,
        "scenarios": scenarios,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "network_day_events_per_s_needed": round(200_000 * 4 / 86_400, 1),
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
