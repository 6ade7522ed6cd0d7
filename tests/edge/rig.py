"""A site under test: the real agent, hw_sim devices on real ptys, a real broker, and an
independent MQTT subscriber that sees what central would see."""

from __future__ import annotations

import os
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from central.broker import PrivateBroker
from edge.agent import SiteAgent
from edge.config import SiteConfig, parse_config
from edge.drivers.links import serial_opener
from hw_sim.devices.site import SimulatedSite
from hw_sim.devices.site import SiteConfig as SimConfig
from hw_sim.people.people import Pace
from protocols.clock import SystemClock
from protocols.commands import sign_command
from protocols.labels import make_s10
from protocols.messages import (
    Command,
    CommandBody,
    Event,
    Reply,
    ReserveSlot,
    SizeClass,
    decode,
    encode,
)
from protocols.tokens import CourierBadge, PickupCode, TokenSigner
from protocols.topics import SiteChannel, Topics
from tests.eventually import eventually

BRISK = Pace(handling_s=0.05, glance_s=0.02, patience_s=4.0)
# A scan that must open nothing is checked on the agent's answer to it (tests/edge/answers.py),
# never on how long a person waits before giving up.
SIZES = [SizeClass.S, SizeClass.M, SizeClass.L, SizeClass.XL]


class Observer:
    """An independent MQTT 5 subscriber to one site's topics (as central would see them)."""

    def __init__(
        self, broker: PrivateBroker, topics: Topics, site: str, persistent: bool = False
    ) -> None:
        self.events: list[Event] = []
        self.replies: list[Reply] = []
        self.retained: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self.topics = topics
        self.site = site
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"observer-{secrets.token_hex(4)}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        self.client.on_message = self._on_message
        self.client.on_connect = self._on_connect
        self.client.reconnect_delay_set(0.1, 0.5)
        properties = None
        if persistent:
            # Like central: a session the broker keeps (and queues for) across outages.
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = 3600
        self.client.connect(
            broker.host, broker.port, clean_start=not persistent, properties=properties
        )
        self.client.loop_start()
        eventually(self.client.is_connected, what="the observer to connect")

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        client.subscribe(f"{self.topics.root}/sites/{self.site}/#", qos=1)

    def _on_message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        channel = message.topic.rsplit("/", 1)[-1]
        with self._lock:
            if channel == SiteChannel.EVENTS:
                self.events.append(decode(Event, message.payload))
            elif channel == SiteChannel.REPLIES:
                self.replies.append(decode(Reply, message.payload))
            else:
                self.retained[channel] = bytes(message.payload)

    def unique_seqs(self) -> list[int]:
        """Sequence numbers in order of first arrival, each once (what central applies)."""
        return [e.seq for e in self.applied()]

    def applied(self) -> list[Event]:
        """Events in order of first arrival, each sequence number once.

        Delivery is at least once: an agent restarted before the broker acknowledged an event
        sends it again, and central counts the second copy as a duplicate. Assertions about
        what happened at the site count each event once, as central does."""
        with self._lock:
            seen: dict[int, Event] = {}
            for event in self.events:
                seen.setdefault(event.seq, event)
            return list(seen.values())

    def types(self) -> list[str]:
        return [e.type for e in self.applied()]

    def of_type(self, kind: str) -> list[Event]:
        return [e for e in self.applied() if e.type == kind]

    def reply_to(self, command_id: str) -> Reply | None:
        with self._lock:
            return next((r for r in self.replies if r.command_id == command_id), None)

    def send(self, signed: bytes) -> None:
        self.client.publish(self.topics.site(self.site, SiteChannel.COMMANDS), signed, qos=1)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@dataclass
class SiteRig:
    """One CU16 locker site (board 0, 16 slots A01..A16, sizes cycling S/M/L/XL)."""

    tmp: Path
    broker: PrivateBroker
    topics: Topics
    site_id: str = "L0001"
    signer: TokenSigner = field(default_factory=TokenSigner.generate)
    clock: SystemClock = field(default_factory=SystemClock)
    overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.devices_dir = self.tmp / "dev"
        self.devices_dir.mkdir(parents=True, exist_ok=True)
        key = self.tmp / "central.pub"
        key.write_bytes(self.signer.verifier().public_pem())
        self.config = self.make_config(key)
        self.sim = SimulatedSite(self.clock, SimConfig(boards=1))
        self.agent: SiteAgent | None = None

    def make_config(self, key: Path) -> SiteConfig:
        slots = [
            {"id": f"A{i:02d}", "board": 0, "lock": i, "size": SIZES[(i - 1) % 4].value}
            for i in range(1, 17)
        ]
        data: dict[str, Any] = {
            "site_id": self.site_id,
            "kind": "locker",
            "state_dir": str(self.tmp / "state"),
            "central_public_key": str(key),
            "broker": {
                "host": self.broker.host,
                "port": self.broker.port,
                "topic_root": self.topics.root,
            },
            "lock_bus": {
                "port": str(self.devices_dir / "locks"),
                "family": "cu16",
                "boards": [0],
                "poll_interval_s": 0.05,
                "reply_timeout_s": 0.3,
            },
            "scanner": {"port": str(self.devices_dir / "scanner")},
            "slots": slots,
            "timing": {"reconnect_min_s": 0.2, "reconnect_max_s": 1.0, "republish_after_s": 2},
        }
        for dotted, value in self.overrides.items():
            target = data
            *path, last = dotted.split(".")
            for part in path:
                target = target.setdefault(part, {})
            target[last] = value
        return parse_config(data)

    async def start(self) -> SiteAgent:
        self.sim.serve_pty(self.devices_dir)
        self.agent = self.new_agent()
        await self.agent.start()
        return self.agent

    def new_agent(self) -> SiteAgent:
        bus = self.config.lock_bus
        scanner = self.config.scanner
        assert bus is not None and scanner is not None
        return SiteAgent(
            self.config,
            clock=self.clock,
            verifier=self.signer.verifier(),
            lock_opener=serial_opener(bus.port, bus.baud_rate),
            scanner_opener=serial_opener(scanner.port, scanner.baud),
        )

    async def stop(self) -> None:
        if self.agent is not None:
            await self.agent.stop()
        await self.sim.aclose()

    # ------------------------------------------------------------------ central's side
    def badge(self, courier: str = "courier-7", partner: str = "post") -> str:
        now = int(self.clock.now())
        return self.signer.courier_badge(
            CourierBadge(courier, partner, now - 60, now + 3600, os.urandom(8))
        )

    def pickup_code(
        self, parcel: str, site: str | None = None, expires_in: float = 3600, signer: Any = None
    ) -> str:
        code = PickupCode(
            site or self.site_id, parcel, int(self.clock.now() + expires_in), os.urandom(8)
        )
        return (signer or self.signer).pickup_code(code)

    def command(self, body: CommandBody, *, site: str | None = None, ttl: float = 60) -> Command:
        now = self.clock.now()
        return Command(
            id=secrets.token_hex(8),
            site=site or self.site_id,
            issued_at=now,
            expires_at=now + ttl,
            nonce=secrets.token_hex(8),
            body=body,
        )

    def signed(self, command: Command, signer: TokenSigner | None = None) -> bytes:
        return encode(sign_command(signer or self.signer, command))

    async def reserve(self, parcel: str, size: SizeClass = SizeClass.M) -> str:
        """Reserve a slot for a parcel the way central does: a signed command."""
        assert self.agent is not None
        command = self.command(ReserveSlot(parcel=parcel, size=size, until=self.clock.now() + 3600))
        await self.agent.handle_command_payload(self.signed(command))
        slot = self.agent.store.read().expected(parcel)
        assert slot is not None and slot.slot is not None
        return slot.slot


def labels(count: int, start: int = 1) -> list[str]:
    return [make_s10("RR", 10_000_000 + start + i, "CN") for i in range(count)]
