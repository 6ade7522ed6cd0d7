"""Central against a real Mosquitto, with sites played by real MQTT clients."""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from central.broker import PrivateBroker
from central.parcels.steps import announce
from central.service.config import CentralConfig
from central.service.service import CentralService
from central.store import ParcelRecord
from protocols.clock import ManualClock
from protocols.messages import SizeClass, SlotState
from protocols.tokens import TokenSigner
from protocols.topics import Topics
from tests.central.central_rig import (
    Site,
    SiteEvents,
    announcement,
    central_config,
    label,
    snapshot,
)
from tests.eventually import eventually

pytestmark = pytest.mark.broker
DAY = 86_400.0


def parcel(central: CentralService, n: int) -> ParcelRecord:
    with central.store.transaction() as session:
        record = session.get_parcel(label(n))
    assert record is not None
    return record


def announce_all(central: CentralService, *numbers: int) -> None:
    with central.store.transaction() as session:
        for n in numbers:
            announce(session, announcement(n), central.clock.now())


def tallies(central: CentralService, site: str) -> tuple[int, int, int]:
    with central.store.transaction() as session:
        stream = session.stream(site)
    return stream.applied_seq, stream.deposits, stream.pickups


def open_site(make_site: Callable[..., Site], site_id: str = "L0001", slots: str = "ABCDE") -> Site:
    site = make_site(site_id)
    site.status(True)
    site.state(snapshot(site_id, [(s, SizeClass.S, SlotState.FREE, None) for s in slots]))
    return site


def test_a_deposit_reaches_the_consumer_as_a_qr_code_the_site_accepts(
    start_central: Callable[..., CentralService],
    make_site: Callable[..., Site],
    config: CentralConfig,
    signer: TokenSigner,
    clock: ManualClock,
) -> None:
    central = start_central()
    announce_all(central, 1)
    site = open_site(make_site)
    site.send(SiteEvents("L0001").deposit(label(1), "A"))

    image = config.pickup.notify_folder / f"{label(1)}.png"
    eventually(image.exists, what="the pickup code image")
    [barcode] = zxingcpp.read_barcodes(Image.open(io.BytesIO(image.read_bytes())))
    # The edge's verifier, holding only central's public key, accepts exactly this code.
    code = signer.verifier().pickup_code(barcode.text, site="L0001", now=clock.now())
    assert code.parcel == label(1)
    assert code.expires_at == int(clock.now() + config.pickup.window_s)
    with central.store.transaction() as session:
        [issued] = session.codes(label(1))
    assert issued.code_id == code.code_id
    message = (config.pickup.notify_folder / f"{label(1)}.txt").read_text()
    assert issued.short_form in message and "Tampines Hub Locker" in message
    assert parcel(central, 1).state == "ready_for_pickup"


def test_duplicated_reordered_and_missing_events_come_out_right(
    start_central: Callable[..., CentralService],
    make_site: Callable[..., Site],
    clock: ManualClock,
) -> None:
    central = start_central()
    announce_all(central, *range(1, 11))
    log = SiteEvents("L0001")
    events = []
    for n, slot in zip(range(1, 6), "ABCDE", strict=True):
        events.append(log.deposit(label(n), slot))
    for n, slot in zip(range(1, 4), "ABC", strict=True):
        events.append(log.pickup(label(n), slot))
    for n, slot in zip(range(6, 9), "ABC", strict=True):
        events.append(log.deposit(label(n), slot))
    held_back = events[6]  # seq 7: lost on the way
    noisy = [e for e in events if e is not held_back] + events[:4] + events[9:]
    random.Random(5).shuffle(noisy)

    site = open_site(make_site)
    site.send(*noisy)

    eventually(lambda: tallies(central, "L0001")[0] == 6, what="events up to the gap applied")
    assert parcel(central, 8).state == "announced"  # after the gap: waits
    clock.advance(1.0)  # past the gap timeout (0.5 s in the test config)
    [request] = eventually(lambda: site.commands_of("resend_state"), what="ResendState")
    from_seq = getattr(request.body, "from_seq", None)
    assert from_seq == 7
    # What the edge does on ResendState: republish its events from from_seq on.
    site.send(*[e for e in events if e.seq >= from_seq])
    eventually(lambda: tallies(central, "L0001") == (11, 8, 3), what="the gap filled")
    states = [parcel(central, n).state for n in range(1, 9)]
    assert states == ["collected"] * 3 + ["ready_for_pickup"] * 5
    with central.store.transaction() as session:
        slots = {s.slot: (s.state, s.parcel) for s in session.list_slots("L0001")}
    assert slots["A"] == ("occupied", label(6)) and slots["D"] == ("occupied", label(4))


def test_a_site_back_after_days_offline_is_reconciled(
    start_central: Callable[..., CentralService],
    make_site: Callable[..., Site],
    config: CentralConfig,
    clock: ManualClock,
) -> None:
    central = start_central()
    announce_all(central, 1, 2)
    log = SiteEvents("L0001")
    site = open_site(make_site)
    site.send(log.deposit(label(1), "A"))
    eventually((config.pickup.notify_folder / f"{label(1)}.png").exists)

    site.drop()  # the link goes; the broker publishes the site's last will
    eventually(
        lambda: any(a.kind == "site_offline" for a in central.store_alarms()),
        what="the site-offline alarm",
    )
    # Two days pass: the consumer is reminded. Meanwhile, offline, the locker goes on: the
    # consumer collects parcel 1 with the code, and a courier deposits parcel 2.
    clock.advance(2 * DAY + 60)
    eventually(lambda: parcel(central, 1).state == "reminded", what="the reminder")
    assert (config.pickup.notify_folder / f"{label(1)}.reminder.txt").exists()
    offline = [log.pickup(label(1), "A"), log.deposit(label(2), "B")]
    # Another day: central, not knowing, lets parcel 1 expire and marks it for removal.
    clock.advance(1 * DAY)
    eventually(lambda: parcel(central, 1).state == "expired", what="the expiry")

    back = open_site(make_site)  # reconnects, says it is online, sends what it kept
    back.send(*offline)
    eventually(lambda: tallies(central, "L0001") == (3, 2, 1), what="the offline events")
    assert parcel(central, 1).state == "collected"
    assert parcel(central, 2).state == "ready_for_pickup"
    with central.store.transaction() as session:
        assert session.open_removals() == []  # no courier sent for a parcel already gone
    eventually(lambda: not any(a.kind == "site_offline" for a in central.store_alarms()))


def test_events_sent_while_central_is_down_are_ingested_when_it_returns(
    start_central: Callable[..., CentralService],
    make_site: Callable[..., Site],
    config: CentralConfig,
) -> None:
    central = start_central()
    announce_all(central, 1, 2, 3)
    log = SiteEvents("L0001")
    site = open_site(make_site)
    site.send(log.deposit(label(1), "A"))
    eventually(lambda: tallies(central, "L0001")[0] == 1)
    central.stop()
    # The broker keeps central's session and queues the shared subscription's events.
    site.send(log.deposit(label(2), "B"), log.deposit(label(3), "C"), log.pickup(label(1), "A"))
    again = start_central(config)
    eventually(lambda: tallies(again, "L0001") == (4, 3, 1), what="the queued events")
    assert [parcel(again, n).state for n in (1, 2, 3)] == [
        "collected",
        "ready_for_pickup",
        "ready_for_pickup",
    ]


def test_door_alarms_open_clear_and_are_acknowledged(
    start_central: Callable[..., CentralService], make_site: Callable[..., Site]
) -> None:
    from central.sites.alarms import acknowledge

    central = start_central()
    log = SiteEvents("L0001")
    site = open_site(make_site)
    site.send(log.door_left_open("C"), log.door_forced("D"))
    eventually(
        lambda: {a.kind for a in central.store_alarms()} == {"door_left_open", "door_forced"}
    )
    site.send(log.door_closed("C"))
    eventually(lambda: {a.kind for a in central.store_alarms()} == {"door_forced"})
    [forced] = central.store_alarms()
    with central.store.transaction() as session:
        acknowledge(session, forced.id or 0, "duty-officer", 0.0)
    assert central.store_alarms() == []


def test_an_uncollected_parcel_is_reminded_expires_and_is_removed(
    start_central: Callable[..., CentralService],
    make_site: Callable[..., Site],
    config: CentralConfig,
    clock: ManualClock,
) -> None:
    central = start_central()
    announce_all(central, 1, 2)
    log = SiteEvents("L0001")
    site = open_site(make_site)
    site.send(log.deposit(label(1), "A"), log.deposit(label(2), "B"))
    eventually(lambda: parcel(central, 2).state == "ready_for_pickup")
    site.send(log.pickup(label(2), "B"))  # the other consumer comes in time
    eventually(lambda: parcel(central, 2).state == "collected")

    clock.advance(config.pickup.window_s - config.pickup.reminder_before_s + 1)
    eventually(lambda: parcel(central, 1).state == "reminded", what="the reminder")
    assert not (config.pickup.notify_folder / f"{label(2)}.reminder.txt").exists()
    clock.advance(config.pickup.reminder_before_s)
    [order] = eventually(lambda: site.commands_of("mark_for_removal"), what="MarkForRemoval")
    assert getattr(order.body, "parcels", None) == [label(1)]
    assert getattr(order.body, "reason", None) == "expired"
    with central.store.transaction() as session:
        [removal] = session.open_removals("L0001")
    assert (removal.label, removal.slot) == (label(1), "A")

    site.send(log.removal(label(1), "A"))  # a courier takes it out
    eventually(lambda: parcel(central, 1).state == "removed", what="the removal")
    with central.store.transaction() as session:
        assert session.open_removals() == []
        steps = [s.step for s in session.steps(label(1))]
        [slot_a] = [s for s in session.list_slots("L0001") if s.slot == "A"]
    # (central may have placed the parcel before the deposit came: an "assign" step first)
    assert steps[-5:] == ["deposit", "notify", "remind", "expire", "remove"]
    assert (slot_a.state, slot_a.parcel) == ("free", None)


def test_a_broker_restart_loses_nothing_and_doubles_nothing(
    tmp_path: Path,
    own_broker: PrivateBroker,
    topics: Topics,
    signer: TokenSigner,
    start_central: Callable[..., CentralService],
) -> None:
    config = central_config(tmp_path, own_broker, topics)
    central = start_central(config)
    announce_all(central, *range(1, 7))
    site = Site(own_broker, topics, "L0001", verifier=signer.verifier()).connect()
    site.state(snapshot("L0001", [(s, SizeClass.S, SlotState.FREE, None) for s in "ABCDEF"]))
    log = SiteEvents("L0001")
    site.send(*[log.deposit(label(n), slot) for n, slot in zip(range(1, 4), "ABC", strict=True)])
    own_broker.restart()  # an orderly restart: sessions and queues are saved
    eventually(site.client.is_connected, what="the site back on the broker")
    eventually(lambda: central.connected, what="central back on the broker")
    site.send(*[log.deposit(label(n), slot) for n, slot in zip(range(4, 7), "DEF", strict=True)])
    site.send(log.pickup(label(1), "A"))
    eventually(lambda: tallies(central, "L0001") == (7, 6, 1), what="every event once")
    site.close()
