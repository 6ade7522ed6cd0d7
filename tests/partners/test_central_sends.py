"""`lockernet central run` sends a partner's webhooks from its own thread: a site's events
over a real Mosquitto move the partner's parcel, and the receiver gets each step once,
signed, even when the site sends an event twice."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from central.broker import PrivateBroker
from central.parcels.steps import announce
from central.service.service import CentralService
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
    small_network,
    snapshot,
)
from tests.eventually import eventually
from tests.partners.receiver import Receiver
from tests.partners.test_webhooks import partner_with_endpoint

pytestmark = pytest.mark.broker
T0 = 1_800_000_000.0


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    up = Receiver().start()
    yield up
    up.stop()


def types_of(receiver: Receiver) -> list[str]:
    return sorted(body["type"] for body in receiver.bodies.values())


def test_central_sends_each_step_of_a_partners_parcel_once(
    tmp_path: Path, broker: PrivateBroker, topics: Topics, receiver: Receiver
) -> None:
    signer = TokenSigner.generate()
    central = CentralService(
        central_config(tmp_path, broker, topics),
        signer=signer,
        network=small_network(),
        clock=ManualClock(T0),
    )
    central.start()
    site = Site(broker, topics, "L0001", verifier=signer.verifier()).connect()
    try:
        partner_with_endpoint(central.store, receiver)
        with central.store.transaction() as session:
            announce(session, announcement(1), T0, owner="acme")
        eventually(lambda: types_of(receiver) == ["parcel.announced"], what="the announcement")
        site.status(True)
        site.state(snapshot("L0001", [(s, SizeClass.S, SlotState.FREE, None) for s in "AB"]))
        events = SiteEvents("L0001")
        deposit = events.deposit(label(1), "A")
        site.send(deposit, deposit)  # the site sent it twice (no PUBACK in time)
        # The sentinel: a later event of the same parcel on the same path.
        site.send(events.pickup(label(1), "A"))
        eventually(
            lambda: "parcel.collected" in types_of(receiver), what="the collection's message"
        )
    finally:
        site.close()
        central.stop()
    assert types_of(receiver) == ["parcel.announced", "parcel.collected", "parcel.ready_for_pickup"]
    assert set(receiver.accepted.values()) == {1}
    assert receiver.refused_signatures == 0
