"""Central's test rig: sites played by real paho MQTT clients, event builders, a small
network, a central config pointed at the test's broker and topic root."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from central.broker import PrivateBroker
from central.capacity.geo import KM_PER_DEG_LON
from central.parcels.manifest import ParcelAnnouncement
from central.service.config import CentralConfig, parse_config
from central.sites.network import Courier, Network, NetworkSite, Partner
from central.store import CentralStore
from protocols.commands import verify_command
from protocols.labels import make_s10
from protocols.messages import (
    Command,
    DoorClosed,
    DoorForced,
    DoorLeftOpen,
    Event,
    EventPayload,
    ParcelDeposited,
    ParcelPickedUp,
    ParcelRemoved,
    RemovalReason,
    Reply,
    SignedCommand,
    SiteKind,
    SiteStatus,
    SizeClass,
    SlotSnapshot,
    SlotState,
    StateSnapshot,
    decode,
    encode,
)
from protocols.tokens import TokenVerifier
from protocols.topics import SiteChannel, Topics

HOME_LAT, HOME_LON = 1.3526, 103.9447  # Tampines


def label(n: int) -> str:
    return make_s10("RR", n, "CN")


# ---------------------------------------------------------------------------- network


def east(km: float) -> float:
    return HOME_LON + km / KM_PER_DEG_LON


def small_network() -> Network:
    """Two lockers (0.3 km and 0.9 km east of the consumers), one counter, two partners."""
    sites = [
        NetworkSite(
            id="L0001",
            kind=SiteKind.LOCKER,
            name="Tampines Hub Locker",
            lat=HOME_LAT,
            lon=east(0.3),
            postal_code="520001",
            compartments={SizeClass.S: 2, SizeClass.M: 2, SizeClass.L: 1},
        ),
        NetworkSite(
            id="L0002",
            kind=SiteKind.LOCKER,
            name="Tampines East Locker",
            lat=HOME_LAT,
            lon=east(0.9),
            postal_code="520002",
            compartments={SizeClass.M: 3},
        ),
        NetworkSite(
            id="C0001",
            kind=SiteKind.COUNTER,
            name="Tampines Mart",
            lat=HOME_LAT,
            lon=east(0.5),
            postal_code="520003",
            shelf_capacity=3,
        ),
    ]
    partners = [
        Partner(id="post", name="Post", cost_per_parcel=2.0, on_time_rate=0.9, daily_capacity=500),
        Partner(id="fast", name="Fast", cost_per_parcel=3.5, on_time_rate=0.99, daily_capacity=500),
    ]
    couriers = [
        Courier(id="K1", partner="post", depot_lat=HOME_LAT, depot_lon=east(1), capacity=200),
        Courier(id="K2", partner="fast", depot_lat=HOME_LAT, depot_lon=east(2), capacity=200),
    ]
    return Network(sites=sites, partners=partners, couriers=couriers)


def announcement(n: int, **changes: Any) -> ParcelAnnouncement:
    data: dict[str, Any] = {
        "label": label(n),
        "size": "S",
        "weight_kg": 1.2,
        "dest_postal_code": "520101",
        "dest_lat": HOME_LAT,
        "dest_lon": HOME_LON,
        "consumer_name": "Tan Wei Ling",
        "consumer_phone": "+65 9123 4567",
        "consumer_email": "wei.ling@example.sg",
        "preferred_mode": None,
        "preferred_site": None,
        "dispatched_at": 1_799_900_000.0,
    }
    data.update(changes)
    return ParcelAnnouncement.model_validate(data)


# ----------------------------------------------------------------------------- config


def central_config(
    tmp_path: Path, broker: PrivateBroker, topics: Topics, **sections: dict[str, Any]
) -> CentralConfig:
    data: dict[str, dict[str, Any]] = {
        "broker": {
            "host": broker.host,
            "port": broker.port,
            "client_id": f"central-{uuid.uuid4().hex[:8]}",
        },
        "topics": {"root": topics.root},
        "store": {"path": str(tmp_path / "central.sqlite")},
        "keys": {"signing_key": str(tmp_path / "central-key.pem")},
        "pickup": {"notify_folder": str(tmp_path / "outbox")},
        # Absolute, as every path here: a config written out and read back stays equal.
        "api": {"session_secret_file": str(tmp_path / "console-session.key")},
        "notify": {"link_secret_file": str(tmp_path / "notify-link.key")},
        "ingest": {"flush_interval_s": 0.02, "gap_timeout_s": 0.5},
        "service": {"tick_interval_s": 0.05},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return parse_config(data, "test config", environ={})


def config_toml(config: CentralConfig) -> str:
    """The config as a TOML file's text (for the `lockernet` subprocesses)."""
    lines = []
    for section, values in config.model_dump(mode="json").items():
        # A list of tables ([[brokers]]) is written one table at a time; none, not at all.
        tables = values if isinstance(values, list) else [values]
        for table in tables:
            lines.append(f"[[{section}]]" if isinstance(values, list) else f"[{section}]")
            for key, value in table.items():
                if isinstance(value, dict):  # a TOML inline table, not a JSON object
                    cells = ", ".join(
                        f"{json.dumps(k)} = {json.dumps(v)}" for k, v in value.items()
                    )
                    lines.append(f"{key} = {{{cells}}}")
                elif value is not None:
                    lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- events


@dataclass
class SiteEvents:
    """Builds one site's events with increasing sequence numbers."""

    site: str
    at: float = 1_800_000_000.0
    seq: int = 0
    epoch: str | None = None  # the site's store identity; None: an agent older than epochs

    def next(self, payload: EventPayload) -> Event:
        self.seq += 1
        self.at += 1
        ident = f"{self.site}-{self.epoch}-{self.seq}" if self.epoch else f"{self.site}-{self.seq}"
        return Event(
            site=self.site, seq=self.seq, id=ident, at=self.at, payload=payload, epoch=self.epoch
        )

    def deposit(self, parcel: str, slot: str, courier: str = "K1") -> Event:
        return self.next(
            ParcelDeposited(
                parcel=parcel, slot=slot, courier=courier, size=SizeClass.S, reserved=True
            )
        )

    def pickup(self, parcel: str, slot: str, code_id: str = "00" * 8) -> Event:
        return self.next(ParcelPickedUp(parcel=parcel, slot=slot, code_id=code_id))

    def removal(
        self, parcel: str, slot: str, reason: RemovalReason = RemovalReason.EXPIRED
    ) -> Event:
        return self.next(ParcelRemoved(parcel=parcel, slot=slot, courier="K1", reason=reason))

    def door_left_open(self, slot: str) -> Event:
        return self.next(DoorLeftOpen(slot=slot, open_seconds=120))

    def door_closed(self, slot: str) -> Event:
        return self.next(DoorClosed(slot=slot, occupied=False))

    def door_forced(self, slot: str) -> Event:
        return self.next(DoorForced(slot=slot))


def snapshot(
    site: str,
    slots: Iterable[tuple[str, SizeClass, SlotState, str | None]],
    last_seq: int = 0,
    at: float = 1_800_000_000.0,
    kind: SiteKind = SiteKind.LOCKER,
    *,
    epoch: str | None = None,
) -> StateSnapshot:
    return StateSnapshot(
        site=site,
        kind=kind,
        boot_id="boot1",
        at=at,
        last_seq=last_seq,
        epoch=epoch,
        slots=[
            SlotSnapshot(slot=s, size=size, state=state, parcel=parcel)
            for s, size, state, parcel in slots
        ],
    )


# ------------------------------------------------------------------------------- site


@dataclass
class Site:
    """A site played by a real MQTT 5 client: publishes events at QoS 1, retained status and
    state, and hears (and verifies) central's signed commands."""

    broker: PrivateBroker
    topics: Topics
    site: str
    verifier: TokenVerifier | None = None
    commands: list[Command] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    auto_reply: Callable[[Command], Reply | None] | None = None
    now: Callable[[], float] = time.time  # the site's clock, for verifying commands

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"site-{self.site}-{uuid.uuid4().hex[:6]}",
            protocol=mqtt.MQTTv5,
        )
        offline = SiteStatus(site=self.site, online=False, boot_id="boot1", at=time.time())
        self.client.will_set(self.topic(SiteChannel.STATUS), encode(offline), qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message

    def topic(self, channel: SiteChannel) -> str:
        return self.topics.site(self.site, channel)

    def _on_connect(self, client: mqtt.Client, *_args: object) -> None:
        client.subscribe(self.topic(SiteChannel.COMMANDS), qos=1)
        self._connected.set()

    def _on_message(
        self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage
    ) -> None:
        signed = decode(SignedCommand, bytes(message.payload))
        if self.verifier is None:
            command = decode(Command, signed.command)
        else:
            try:
                command = verify_command(self.verifier, signed, self.site, self.now())
            except Exception as exc:  # noqa: BLE001 - the test asserts on what was refused
                self.refused.append(str(exc))
                return
        with self._lock:
            self.commands.append(command)
        if self.auto_reply is not None:
            reply = self.auto_reply(command)
            if reply is not None:
                self.client.publish(self.topic(SiteChannel.REPLIES), encode(reply), qos=1)

    def connect(self) -> Site:
        self._connected.clear()
        self.client.connect(self.broker.host, self.broker.port, keepalive=30)
        self.client.loop_start()
        if not self._connected.wait(10):
            raise AssertionError(f"site {self.site} could not connect")
        return self

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(10)
        assert info.is_published()

    def send(self, *events: Event) -> None:
        for event in events:
            self.publish(self.topic(SiteChannel.EVENTS), encode(event))

    def status(self, online: bool, at: float | None = None) -> None:
        message = SiteStatus(site=self.site, online=online, boot_id="boot1", at=at or time.time())
        self.publish(self.topic(SiteChannel.STATUS), encode(message), retain=True)

    def state(self, snap: StateSnapshot) -> None:
        self.publish(self.topic(SiteChannel.STATE), encode(snap), retain=True)

    def reply(
        self, command: Command, ok: bool = True, result: dict[str, Any] | None = None
    ) -> None:
        message = Reply(site=self.site, command_id=command.id, at=time.time(), ok=ok, result=result)
        self.publish(self.topic(SiteChannel.REPLIES), encode(message))

    def commands_of(self, kind: str) -> list[Command]:
        with self._lock:
            return [c for c in self.commands if c.body.type == kind]

    def drop(self) -> None:
        """Lose the link as a crash would: the broker publishes the site's last will."""
        with_will = ReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message")
        self.client.disconnect(reasoncode=with_will)
        self.client.loop_stop()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def stock_store(store: CentralStore, now: float, parcels: int = 30) -> None:
    """The ingest tests' starting point: small_network's sites, L0001's five and L0002's three
    S slots free (as their snapshots say), parcels 1..`parcels` announced."""
    # Imported here: the rig is also used by tests that never touch a store.
    from central.parcels.steps import announce
    from central.sites import registry

    with store.transaction() as session:
        registry.load_network(session, small_network())
        for site, slots in (("L0001", "ABCDE"), ("L0002", "FGH")):
            registry.apply_snapshot(
                session,
                snapshot(site, [(s, SizeClass.S, SlotState.FREE, None) for s in slots]),
                now,
            )
        for n in range(1, parcels + 1):
            announce(session, announcement(n), now)
