"""What `lockernet demo` runs: a few sites end to end on one machine, with a verdict.

A private Mosquitto with the project's settings; site agents (the real edge code, all on one
event loop) on simulated boards and scanners in memory; a stand-in for central that reserves
slots by signed command and counts every event it receives; couriers who deposit parcels and
consumers who pick them up with signed codes. It prints a summary and exits non-zero if any
event was lost or any parcel did not reach its consumer.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from central.broker import PrivateBroker
from edge.agent import SiteAgent
from edge.config import parse_config
from hw_sim.devices.site import SimulatedSite
from hw_sim.devices.site import SiteConfig as SimConfig
from hw_sim.network.site_setup import memory_opener
from hw_sim.people.people import Consumer, Courier, Pace
from protocols.clock import SystemClock
from protocols.commands import sign_command
from protocols.labels import make_s10
from protocols.messages import (
    Command,
    Event,
    ParcelDeposited,
    Reply,
    ReserveSlot,
    SizeClass,
    decode,
    encode,
)
from protocols.tokens import CourierBadge, PickupCode, TokenSigner
from protocols.topics import SiteChannel, Topics

SIZES = [SizeClass.S, SizeClass.M, SizeClass.L, SizeClass.XL]
SLOTS_PER_BOARD = 16
DEMO_PACE = Pace(handling_s=0.05, glance_s=0.02, patience_s=5.0)
REPLY_TIMEOUT_S = 10.0


@dataclass
class CentralStandIn:
    """What central sees: every event and reply on the broker, counted once by (site, seq)."""

    broker: PrivateBroker
    topics: Topics
    events: dict[tuple[str, int], Event] = field(default_factory=dict)
    deliveries: int = 0
    replies: dict[str, Reply] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id="demo-central",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        self.client.on_message = self._on_message
        self.client.connect(self.broker.host, self.broker.port)
        self.client.subscribe(self.topics.all_sites(SiteChannel.EVENTS), qos=1)
        self.client.subscribe(self.topics.all_sites(SiteChannel.REPLIES), qos=1)
        self.client.loop_start()

    def _on_message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        _, channel = self.topics.parse_site_topic(message.topic)
        with self._lock:
            if channel is SiteChannel.EVENTS:
                event = decode(Event, bytes(message.payload))
                self.deliveries += 1
                self.events.setdefault((event.site, event.seq), event)
            else:
                reply = decode(Reply, bytes(message.payload))
                self.replies[reply.command_id] = reply

    def send(self, site: str, payload: bytes) -> None:
        self.client.publish(self.topics.site(site, SiteChannel.COMMANDS), payload, qos=1)

    def deposited_at(self, site: str) -> set[str]:
        with self._lock:
            return {
                e.payload.parcel
                for e in self.events.values()
                if e.site == site and isinstance(e.payload, ParcelDeposited)
            }

    def count(self, kind: str) -> int:
        with self._lock:
            return sum(1 for e in self.events.values() if e.type == kind)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


async def run_demo(sites: int, parcels: int) -> dict[str, Any]:
    started = time.perf_counter()
    clock = SystemClock()
    signer = TokenSigner.generate()
    scratch = tempfile.TemporaryDirectory(prefix="lockernet-demo-")
    workdir = Path(scratch.name)
    key = workdir / "central.pub"
    key.write_bytes(signer.verifier().public_pem())
    topics = Topics()
    broker = PrivateBroker(workdir / "broker")
    broker.start()
    central = CentralStandIn(broker, topics)
    agents: list[SiteAgent] = []
    sims: list[SimulatedSite] = []
    try:
        for index in range(sites):
            site_id = f"L{index + 1:04d}"
            sim = SimulatedSite(clock, SimConfig(boards=2, seed=index))
            locks, scanner = sim.serve_memory()
            config = parse_config(_site_config(site_id, workdir, key, broker))
            agent = SiteAgent(
                config,
                clock=clock,
                verifier=signer.verifier(),
                lock_opener=memory_opener(locks),
                scanner_opener=memory_opener(scanner),
                durable=False,
            )
            await agent.start()
            sims.append(sim)
            agents.append(agent)
        await _until(lambda: all(a.link.connected for a in agents), 15)
        labels = [make_s10("RR", 20_000_000 + i, "CN") for i in range(parcels)]
        by_site: dict[int, list[str]] = {}
        for i, label in enumerate(labels):
            by_site.setdefault(i % sites, []).append(label)
        outcomes = await asyncio.gather(
            *(
                _site_day(agents[i], sims[i], central, signer, by_site.get(i, []))
                for i in range(sites)
            )
        )
        sent = sum(a.store.last_seq() for a in agents)
        await _until(lambda: all(a.store.pending_count() == 0 for a in agents), 15)
        await _until(lambda: len(central.events) >= sent, 10)
        latencies = [ms for a in agents for ms in a.scan_latencies_ms]
    finally:
        for agent in agents:
            await agent.stop()
        for sim in sims:
            await sim.aclose()
        central.close()
        broker.stop()
        scratch.cleanup()
    deposited = central.count("parcel_deposited")
    picked_up = central.count("parcel_picked_up")
    lost = sent - len(central.events)
    duplicate_effects = sum(o["duplicate_effects"] for o in outcomes)
    clean = lost == 0 and deposited == parcels and picked_up == parcels and not duplicate_effects
    return {
        "verdict": "clean" if clean else "failed",
        "sites": sites,
        "parcels": parcels,
        "deposited": deposited,
        "picked_up": picked_up,
        "events_sent": sent,
        "events_received": len(central.events),
        "events_lost": lost,
        "deliveries": central.deliveries,
        "duplicate_effects": duplicate_effects,
        "scan_handling_p50_ms": round(statistics.median(latencies), 2) if latencies else None,
        "scan_handling_p99_ms": round(_percentile(latencies, 99), 2) if latencies else None,
        "wall_seconds": round(time.perf_counter() - started, 2),
    }


async def _site_day(
    agent: SiteAgent,
    sim: SimulatedSite,
    central: CentralStandIn,
    signer: TokenSigner,
    labels: list[str],
) -> dict[str, int]:
    """Reserve, deliver and collect this site's parcels, as couriers and consumers would."""
    now = agent.clock.now()
    for i, label in enumerate(labels):
        command = Command(
            id=secrets.token_hex(8),
            site=agent.site,
            issued_at=now,
            expires_at=now + 60,
            nonce=secrets.token_hex(8),
            body=ReserveSlot(parcel=label, size=SIZES[i % 3], until=now + 3600),
        )
        central.send(agent.site, encode(sign_command(signer, command)))
        await _until(lambda c=command: c.id in central.replies, REPLY_TIMEOUT_S)
    badge = signer.courier_badge(
        CourierBadge("courier-1", "post", int(now) - 60, int(now) + 3600, os.urandom(8))
    )
    await Courier(sim, DEMO_PACE).deposit(badge, labels)
    # A consumer comes once notified: when central has the deposit event.
    await _until(lambda: central.deposited_at(agent.site) >= set(labels), REPLY_TIMEOUT_S)
    duplicates = 0
    for label in labels:
        code = signer.pickup_code(PickupCode(agent.site, label, int(now) + 3600, os.urandom(8)))
        report = await Consumer(sim, DEMO_PACE).pick_up(code)
        if len(report.taken) > 1:
            duplicates += 1
    await _until(lambda: not agent.open_doors, 10)
    return {"duplicate_effects": duplicates}


async def _until(predicate: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


def _site_config(site_id: str, workdir: Path, key: Path, broker: PrivateBroker) -> dict[str, Any]:
    slots = [
        {
            "id": f"{'AB'[board]}{lock:02d}",
            "board": board,
            "lock": lock,
            "size": SIZES[(lock - 1) % 4].value,
        }
        for board in (0, 1)
        for lock in range(1, SLOTS_PER_BOARD + 1)
    ]
    return {
        "site_id": site_id,
        "state_dir": str(workdir / "sites"),
        "central_public_key": str(key),
        "broker": {"host": broker.host, "port": broker.port},
        "lock_bus": {"port": "memory", "boards": [0, 1], "poll_interval_s": 0.05},
        "scanner": {"port": "memory"},
        "slots": slots,
    }
