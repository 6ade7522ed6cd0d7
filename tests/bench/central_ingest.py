"""Benchmark: events per second central ingests AND commits, beside a raw paho subscriber's
messages per second on the same broker, in the same run.

    .venv/bin/python tests/bench/central_ingest.py [--sites 200] [--events-per-site 500]

Both consumers are measured the same way: their persistent MQTT 5 session is subscribed
first and then disconnected, the sites' events are published and queued by the broker, and
the consumer reconnects and drains the queue. So the publishers' speed is not measured,
only the consumer's: the raw subscriber receives and acknowledges (QoS 1, shared
subscription); central receives, stores each event under its (site, seq) key, applies it in
sequence order (parcel lifecycle, slots, tallies, alarms, follow-up tasks) and commits
(fsynced, WAL) before it acknowledges. Follow-up tasks (pickup codes) are left for after the
run. Prints one JSON object on its last line.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from central.broker import PrivateBroker
from central.parcels.manifest import ParcelAnnouncement
from central.parcels.pickup_codes import Notification, PickupNotice
from central.parcels.steps import announce
from central.service.config import parse_config
from central.service.service import CentralService
from central.sites import registry
from central.sites.network import Network, NetworkSite
from central.store import SqliteStore
from protocols.clock import SystemClock
from protocols.labels import make_s10
from protocols.messages import (
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
from protocols.tokens import TokenSigner
from protocols.topics import SiteChannel, Topics

PUBLISHERS = 4
DRAIN_TIMEOUT_S = 600.0


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


def session_client(broker: PrivateBroker, client_id: str) -> tuple[mqtt.Client, Properties]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 3600
    return client, props


def prime_raw(broker: PrivateBroker, topics: Topics, client_id: str) -> None:
    """Create the raw subscriber's persistent session and subscription, then leave."""
    done = threading.Event()
    client, props = session_client(broker, client_id)
    client.on_subscribe = lambda *_a: done.set()
    client.on_connect = lambda c, *_a: c.subscribe(topics.shared_events("raw"), qos=1)
    client.connect(broker.host, broker.port, clean_start=False, properties=props)
    client.loop_start()
    assert done.wait(10)
    client.disconnect()
    client.loop_stop()


def drain_raw(broker: PrivateBroker, client_id: str, expected: int) -> float:
    received = 0
    done = threading.Event()
    client, props = session_client(broker, client_id)

    def on_message(*_args: object) -> None:
        nonlocal received
        received += 1
        if received >= expected:
            done.set()

    client.on_message = on_message
    start = time.perf_counter()
    client.connect(broker.host, broker.port, clean_start=False, properties=props)
    client.loop_start()
    if not done.wait(DRAIN_TIMEOUT_S):
        raise SystemExit(f"raw subscriber got {received} of {expected} messages")
    elapsed = time.perf_counter() - start
    client.disconnect()
    client.loop_stop()
    return elapsed


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--events-per-site", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args()
    total = args.sites * args.events_per_site

    with tempfile.TemporaryDirectory() as tmp, PrivateBroker(Path(tmp) / "broker") as broker:
        network = bench_network(args.sites)
        streams = [
            site_events(site.id, args.events_per_site, 1 + i * args.events_per_site)
            for i, site in enumerate(network.sites)
        ]
        # Interleave sites as the broker would see them arriving from a fleet.
        events = [e for batch in zip(*streams, strict=True) for e in batch]
        parcels = {e.payload.parcel for e in events if isinstance(e.payload, ParcelDeposited)}

        # --- raw paho subscriber
        raw_topics = Topics(f"bench-{uuid.uuid4().hex[:8]}/v1")
        raw_id = f"bench-raw-{uuid.uuid4().hex[:8]}"
        prime_raw(broker, raw_topics, raw_id)
        raw_events = [e for e in events]
        publish_raw_s = publish_all(broker, raw_topics, raw_events)
        raw_s = drain_raw(broker, raw_id, total)

        # --- central
        topics = Topics(f"bench-{uuid.uuid4().hex[:8]}/v1")
        config = parse_config(
            {
                "broker": {"host": broker.host, "port": broker.port, "client_id": "bench-central"},
                "topics": {"root": topics.root},
                "store": {"path": str(Path(tmp) / "central.sqlite")},
                "pickup": {"notify_folder": str(Path(tmp) / "outbox")},
                "ingest": {"batch_size": args.batch_size},
                "service": {"tick_interval_s": 60},
            },
            environ={},
        )
        store = SqliteStore(config.store.path)
        with store.transaction() as session:
            registry.load_network(session, network)
        with store.transaction() as session:
            for label in parcels:
                announce(session, announced(label), 0.0)
        store.close()
        signer = TokenSigner.generate()

        def service() -> CentralService:
            return CentralService(
                config,
                clock=SystemClock(),
                signer=signer,
                network=network,
                notifier=NoNotifier(),
            )

        primer = service()
        primer.start()  # creates the session and the shared subscription
        time.sleep(0.5)  # the SUBACK: no wait-hook on it from outside the service
        primer.stop()
        publish_central_s = publish_all(broker, topics, events)

        committed = 0
        done = threading.Event()

        def on_commit(count: int) -> None:
            nonlocal committed
            committed += count
            if committed >= total:
                done.set()

        central = service()
        central.on_commit = on_commit
        start = time.perf_counter()
        central.start()
        if not done.wait(DRAIN_TIMEOUT_S):
            raise SystemExit(f"central committed {committed} of {total} events")
        central_s = time.perf_counter() - start
        batches = central.committed_batches
        central.stop()
        check = SqliteStore(config.store.path)
        with check.transaction() as session:
            streams_done = session.list_streams()
            collected = session.parcel_state_counts().get("collected", 0)
        applied = sum(s.applied_seq for s in streams_done)
        if applied != total or collected != len(parcels):
            raise SystemExit(f"central applied {applied}/{total}, collected {collected}")

    raw_rate = total / raw_s
    central_rate = total / central_s
    report = {
        "benchmark": "central_ingest",
        "sites": args.sites,
        "events": total,
        "batch_size": args.batch_size,
        "raw_paho_msgs_per_s": round(raw_rate),
        "raw_paho_seconds": round(raw_s, 3),
        "central_events_per_s": round(central_rate),
        "central_seconds": round(central_s, 3),
        "central_batches": batches,
        "central_to_raw_ratio": round(central_rate / raw_rate, 3),
        "publish_seconds_raw_run": round(publish_raw_s, 3),
        "publish_seconds_central_run": round(publish_central_s, 3),
        "network_day_events_per_s_needed": round(200_000 * 4 / 86_400, 1),
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
