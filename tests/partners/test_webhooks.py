"""Webhooks end to end over real HTTP: queued with a partner's parcel steps, signed and
checked by the independent `standardwebhooks` package, retried while the receiver is down
or failing, received exactly once per message, never doubled by a replayed event or by two
senders at once (on SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from central.parcels.lifecycle import ParcelState, ParcelStep
from central.parcels.steps import announce
from central.partners.endpoints import add_endpoint, retry_failed
from central.partners.keys import add_partner
from central.partners.outbox import EVENT_TYPES, message_id
from central.partners.sender import WebhookSender, alarm_site
from central.service.config import ApiConfig, IngestConfig, PickupConfig
from central.sites.ingest import Delivery, Ingest
from central.sites.site_events import EventEffects
from central.store import CentralStore, StepRecord
from central.store.queries.webhooks import WebhookEndpointRecord
from protocols.clock import ManualClock
from protocols.messages import encode
from protocols.topics import SiteChannel, Topics
from tests.central.central_rig import SiteEvents, announcement, label, stock_store
from tests.central.store_contract.stores import open_location
from tests.partners.receiver import Receiver, Trickler

NOW = 1_800_000_100.0
CONFIG = ApiConfig(webhook_timeout_s=2.0, webhook_retry_first_s=1.0, webhook_max_attempts=4)
TOPICS = Topics("lockernet-test/webhooks/v1")
# Past the longest wait the backoff can draw after any number of failures (its cap).
PAST_ANY_RETRY_S = 3601.0


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    up = Receiver().start()
    yield up
    up.stop()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CentralStore]:
    opened = open_location(str(tmp_path / "central.sqlite"))
    yield opened
    opened.close()


def partner_with_endpoint(
    store: CentralStore, receiver: Receiver, partner: str = "acme"
) -> WebhookEndpointRecord:
    """A partner whose one endpoint is the receiver (which learns its secret)."""
    with store.transaction() as session:
        add_partner(session, partner, partner.title(), NOW)
        added = add_endpoint(session, partner, receiver.url, [], NOW)
    receiver.secret = added.record.secret
    return added.record


def announce_owned(store: CentralStore, numbers: range, owner: str = "acme") -> list[str]:
    with store.transaction() as session:
        for n in numbers:
            assert announce(session, announcement(n), NOW, owner=owner) is not None
    return [label(n) for n in numbers]


def sender(store: CentralStore, clock: object) -> WebhookSender:
    return WebhookSender(store, CONFIG, clock=clock)  # type: ignore[arg-type]


def statuses(store: CentralStore, endpoint: int) -> list[tuple[str, int]]:
    with store.transaction() as session:
        return sorted((d.status, d.attempts) for d in session.webhook_deliveries([endpoint]))


def test_each_step_of_an_owned_parcel_arrives_signed_once(
    store: CentralStore, receiver: Receiver
) -> None:
    endpoint = partner_with_endpoint(store, receiver)
    labels = announce_owned(store, range(1, 4))
    announce_owned(store, range(4, 5), owner="other")  # another partner's: not to acme
    with store.transaction() as session:
        announce(session, announcement(5), NOW)  # the operator's import: nobody's
    clock = ManualClock(NOW)
    running = sender(store, clock)
    try:
        assert running.run_due() == 3
        assert running.run_due() == 0  # delivered: never sent again
    finally:
        running.close()
    assert receiver.refused_signatures == 0
    assert sorted(receiver.accepted.values()) == [1, 1, 1]
    bodies = list(receiver.bodies.values())
    got = sorted((b["type"], b["data"]["label"], b["data"]["state"]) for b in bodies)
    assert got == [("parcel.announced", one, "announced") for one in labels]
    assert statuses(store, endpoint.id) == [("delivered", 1)] * 3
    # The contact details the manifest carried are in no message.
    for text in (str(body) for body in receiver.bodies.values()):
        assert "Tan Wei Ling" not in text and "9123" not in text and "wei.ling" not in text


def test_a_receiver_down_then_failing_then_up_gets_each_message_exactly_once(
    store: CentralStore, receiver: Receiver
) -> None:
    endpoint = partner_with_endpoint(store, receiver)
    announce_owned(store, range(1, 3))
    clock = ManualClock(NOW)
    running = sender(store, clock)
    try:
        receiver.stop()  # connections refused
        assert running.run_due() == 2
        with store.transaction() as session:
            shown = session.webhook_deliveries([endpoint.id])
        assert [(d.status, d.attempts) for d in shown] == [("pending", 1)] * 2
        assert all(receiver.url in (d.last_error or "") for d in shown)
        assert running.run_due() == 0  # not due again yet: it backs off
        receiver.answer = 500
        receiver.start()
        clock.advance(PAST_ANY_RETRY_S)
        assert running.run_due() == 2  # answered 500: still pending
        assert statuses(store, endpoint.id) == [("pending", 2)] * 2
        receiver.answer = 200
        clock.advance(PAST_ANY_RETRY_S)
        assert running.run_due() == 2
        clock.advance(PAST_ANY_RETRY_S)
        assert running.run_due() == 0
    finally:
        running.close()
    assert statuses(store, endpoint.id) == [("delivered", 3)] * 2
    assert sorted(receiver.accepted.values()) == [1, 1]
    # The same webhook-id on the failed attempt and on the one that got through.
    assert sorted(receiver.seen_ids) == sorted(2 * list(receiver.accepted))


def test_an_endpoint_that_keeps_failing_is_given_up_with_an_alarm_cleared_by_a_success(
    store: CentralStore, receiver: Receiver
) -> None:
    endpoint = partner_with_endpoint(store, receiver)
    announce_owned(store, range(1, 2))
    receiver.answer = 500
    clock = ManualClock(NOW)
    running = sender(store, clock)
    try:
        for _ in range(CONFIG.webhook_max_attempts):
            assert running.run_due() == 1
            clock.advance(PAST_ANY_RETRY_S)
        assert running.run_due() == 0  # given up
        assert statuses(store, endpoint.id) == [("failed", CONFIG.webhook_max_attempts)]
        with store.transaction() as session:
            [alarm] = [a for a in session.list_alarms() if a.kind == "webhook_failing"]
        assert (alarm.site, alarm.ref) == (alarm_site("acme"), str(endpoint.id))
        assert alarm.detail is not None and "HTTP 500" in alarm.detail
        receiver.answer = 200
        announce_owned(store, range(2, 3))
        assert running.run_due() == 1
        with store.transaction() as session:
            assert [a for a in session.list_alarms() if a.kind == "webhook_failing"] == []
        assert sorted(statuses(store, endpoint.id)) == [("delivered", 1), ("failed", 4)]
        # The operator sends again what was given up, now that the receiver is fixed.
        with store.transaction() as session:
            assert retry_failed(session, "acme", clock.now()) == 1
        assert running.run_due() == 1
    finally:
        running.close()
    assert statuses(store, endpoint.id) == [("delivered", 1)] * 2
    assert sorted(receiver.accepted.values()) == [1, 1]


def test_a_replayed_event_makes_no_second_message(store: CentralStore, receiver: Receiver) -> None:
    stock_store(store, NOW, 3)
    endpoint = partner_with_endpoint(store, receiver)
    with store.transaction() as session:
        record = session.get_parcel(label(1))
        assert record is not None
        session.save_parcel(dataclasses.replace(record, owner="acme"))
    ingest = Ingest(store, TOPICS, EventEffects(PickupConfig()), IngestConfig())
    deposit = SiteEvents("L0001").deposit(label(1), "A")
    delivery = Delivery(TOPICS.site("L0001", SiteChannel.EVENTS), encode(deposit))
    ingest.commit([delivery, delivery], NOW)  # the broker delivered it twice
    ingest.commit([delivery], NOW + 5)  # and once more, later (a site resending)
    running = sender(store, ManualClock(NOW + 10))
    try:
        assert running.run_due() == 1
    finally:
        running.close()
    [body] = receiver.bodies.values()
    assert (body["type"], body["data"]["state"], body["data"]["site"]) == (
        "parcel.ready_for_pickup",
        "ready_for_pickup",
        "L0001",
    )
    assert list(receiver.accepted.values()) == [1]
    assert statuses(store, endpoint.id) == [("delivered", 1)]


def test_a_step_recorded_again_keeps_its_message_id() -> None:
    step = StepRecord(
        label(1),
        ParcelStep.DEPOSIT,
        None,
        ParcelState.READY_FOR_PICKUP,
        NOW,
        "site L0001 event 7",
    )
    again = dataclasses.replace(step, recorded_at=NOW + 60)
    other = dataclasses.replace(step, source="site L0001 event 8")
    assert message_id(step) == message_id(again) != message_id(other)
    assert message_id(step).startswith("msg_")
    assert set(EVENT_TYPES) == set(ParcelStep) - {ParcelStep.NOTIFY}


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_two_senders_at_once_never_double_a_message(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest, receiver: Receiver
) -> None:
    location = str(tmp_path / "c.sqlite") if kind == "sqlite" else request.getfixturevalue("pg_url")
    setup = open_location(location)
    partner_with_endpoint(setup, receiver)
    announce_owned(setup, range(1, 81))
    setup.close()
    stores = [open_location(location) for _ in range(2)]
    senders = [sender(s, ManualClock(NOW + 10)) for s in stores]

    def drain(one: WebhookSender) -> None:
        while one.run_due() > 0:
            pass

    threads = [threading.Thread(target=drain, args=(one,)) for one in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for one, opened in zip(senders, stores, strict=True):
        one.close()
        opened.close()
    assert not any(t.is_alive() for t in threads)
    assert len(receiver.accepted) == 80
    assert set(receiver.accepted.values()) == {1}
    assert len(receiver.seen_ids) == 80  # not even a refused or repeated attempt
    assert sum(one.sent for one in senders) == 80


def test_a_receiver_that_never_finishes_answering_holds_up_no_other_partner(
    store: CentralStore, receiver: Receiver
) -> None:
    # A hostile partner's receiver answers a byte at a time, each inside the read timeout:
    # without a limit on the whole attempt, every partner's webhooks waited on it.
    trickler = Trickler(every_s=0.3, for_s=20).start()
    try:
        endpoint = partner_with_endpoint(store, receiver)
        with store.transaction() as session:
            add_partner(session, "bolt", "Bolt", NOW)
            slow = add_endpoint(session, "bolt", trickler.url, [], NOW).record
        announce_owned(store, range(1, 3), owner="bolt")
        announce_owned(store, range(3, 5))
        running = sender(store, ManualClock(NOW))
        try:
            started = time.monotonic()
            assert running.run_due() == 4
            took = time.monotonic() - started
        finally:
            running.close()
    finally:
        trickler.stop()
    assert took < 3 * CONFIG.webhook_timeout_s + 2  # the attempt's whole limit, and slack
    assert sorted(receiver.accepted.values()) == [1, 1]  # acme's arrived
    assert statuses(store, endpoint.id) == [("delivered", 1)] * 2
    assert statuses(store, slow.id) == [("pending", 1)] * 2  # tried once: retried later
    with store.transaction() as session:
        errors = {d.last_error for d in session.webhook_deliveries([slow.id])}
    limit = 3 * CONFIG.webhook_timeout_s
    assert errors == {f"AnswerTooSlow to {trickler.url}: no complete answer in {limit:.0f} s"}
