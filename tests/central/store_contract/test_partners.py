"""Partners, their keys, the parcels each owns, webhook endpoints and the deliveries'
outbox, on both stores; and two claimants never holding one delivery at once."""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from queue import Queue
from typing import Any

import pytest

from central.store.base import CentralStore
from central.store.queries.partners import PartnerKeyRecord, PartnerRecord
from central.store.records import ParcelState
from tests.central.central_rig import label
from tests.central.store_contract.samples import T0, parcel
from tests.central.store_contract.stores import open_location

SPAWN = multiprocessing.get_context("spawn")
JOIN_TIMEOUT_S = 90.0
LEASE_S = 600.0


def key(key_id: str, partner: str = "acme", **changes: Any) -> PartnerKeyRecord:
    fields: dict[str, Any] = {
        "key_id": key_id,
        "partner": partner,
        "secret_hash": "ab" * 32,
        "scopes": ("parcels:read", "webhooks:manage"),
        "created_at": T0,
    }
    fields.update(changes)
    return PartnerKeyRecord(**fields)


def test_partners_and_keys_are_stored_listed_and_revoked_once(any_store: CentralStore) -> None:
    with any_store.transaction() as session:
        assert session.add_partner(PartnerRecord("acme", "Acme Express", T0))
        assert not session.add_partner(PartnerRecord("acme", "Another", T0 + 1))  # id taken
        session.add_partner(PartnerRecord("bolt", "Bolt", T0))
        session.add_partner_key(key("k1"))
        session.add_partner_key(key("k2", created_at=T0 + 1, scopes=("parcels:write",)))
        session.add_partner_key(key("k3", partner="bolt"))
    with any_store.transaction() as session:
        assert session.get_partner("acme") == PartnerRecord("acme", "Acme Express", T0)
        assert [p.partner for p in session.list_partners()] == ["acme", "bolt"]
        assert session.get_partner_key("k1") == key("k1")
        assert [k.key_id for k in session.partner_keys("acme")] == ["k1", "k2"]
        assert session.revoke_partner_key("k1", T0 + 5)
        assert not session.revoke_partner_key("k1", T0 + 6)  # once
        assert not session.revoke_partner_key("nope", T0 + 6)
        session.touch_partner_key("k2", T0 + 10, T0 + 10 - 60)
        session.touch_partner_key("k2", T0 + 20, T0 + 20 - 60)  # noted a moment ago: kept
    with any_store.transaction() as session:
        assert session.get_partner_key("k1") == key("k1", revoked_at=T0 + 5)
        noted = session.get_partner_key("k2")
        assert noted is not None and noted.last_used_at == T0 + 10
        assert noted.scopes == ("parcels:write",)


def test_a_partner_reads_only_the_parcels_it_owns(any_store: CentralStore) -> None:
    with any_store.transaction() as session:
        session.save_parcel(parcel(1, owner="acme", updated_at=T0 + 30))
        session.save_parcel(parcel(2, owner="acme", state=ParcelState.COLLECTED))
        session.save_parcel(parcel(3, owner="bolt"))
        session.save_parcel(parcel(4))  # the operator's import: nobody's
    with any_store.transaction() as session:
        assert session.get_parcel(label(1)) == parcel(1, owner="acme", updated_at=T0 + 30)
        assert session.partner_parcel("acme", label(1)) == parcel(
            1, owner="acme", updated_at=T0 + 30
        )
        assert session.partner_parcel("acme", label(3)) is None
        assert session.partner_parcel("acme", label(4)) is None
        assert [p.label for p in session.partner_parcels("acme")] == [label(2), label(1)]
        assert [p.label for p in session.partner_parcels("acme", state="collected")] == [label(2)]
        assert [p.label for p in session.partner_parcels("acme", since=T0 + 6)] == [label(1)]
        assert [p.label for p in session.partner_parcels("acme", limit=1)] == [label(2)]


def test_a_partner_pages_on_past_parcels_that_changed_at_one_moment(
    any_store: CentralStore,
) -> None:
    with any_store.transaction() as session:
        for n in (1, 2, 3):
            session.save_parcel(parcel(n, owner="acme", updated_at=T0 + 0.1234567))
        session.save_parcel(parcel(4, owner="acme", updated_at=T0 + 9))
    with any_store.transaction() as session:
        first = session.partner_parcels("acme", limit=2)
        assert [p.label for p in first] == [label(1), label(2)]
        cursor = (first[-1].updated_at, first[-1].label)
        rest = session.partner_parcels("acme", after=cursor, limit=2)
        assert [p.label for p in rest] == [label(3), label(4)]
        assert session.partner_parcels("acme", after=(T0 + 9, label(4))) == []


def endpoints(store: CentralStore) -> tuple[int, int, int]:
    """acme: one endpoint for every type, one for collections only; bolt: one."""
    with store.transaction() as session:
        every = session.add_webhook_endpoint("acme", "https://a.example/hook", "whsec_a", [], T0)
        picky = session.add_webhook_endpoint(
            "acme", "https://a.example/collected", "whsec_b", ["parcel.collected"], T0
        )
        other = session.add_webhook_endpoint("bolt", "https://b.example/", "whsec_c", [], T0)
    return every, picky, other


def test_a_message_is_queued_once_per_endpoint_that_wants_its_type(
    any_store: CentralStore,
) -> None:
    every, picky, other = endpoints(any_store)
    with any_store.transaction() as session:
        session.enqueue_webhook("acme", "msg_1", "parcel.ready_for_pickup", '{"n":1}', T0)
        session.enqueue_webhook("acme", "msg_2", "parcel.collected", '{"n":2}', T0 + 1)
        session.enqueue_webhook("acme", "msg_2", "parcel.collected", '{"n":2}', T0 + 2)  # again
        # A LIKE wildcard in the filter is matched literally: "parcel.collected" only.
        session.enqueue_webhook("acme", "msg_3", "parcel%collected", "{}", T0 + 3)
    with any_store.transaction() as session:
        shown = session.webhook_deliveries([every, picky, other])
        assert sorted((d.endpoint, d.message_id) for d in shown) == [
            (every, "msg_1"),
            (every, "msg_2"),
            (every, "msg_3"),
            (picky, "msg_2"),
        ]
        assert {d.status for d in shown} == {"pending"}
        assert [e.id for e in session.webhook_endpoints("acme")] == [every, picky]
        found = session.get_webhook_endpoint(picky)
        assert found is not None and found.event_types == ("parcel.collected",)


def test_a_claimed_delivery_is_held_until_its_lease_ends_and_then_recorded(
    any_store: CentralStore,
) -> None:
    every, picky, _ = endpoints(any_store)
    with any_store.transaction() as session:
        session.enqueue_webhook("acme", "msg_1", "parcel.collected", '{"n":1}', T0)
    with any_store.transaction() as session:
        assert session.claim_webhook_deliveries(T0 - 1, T0 + 60, 10) == []  # not due yet
        claimed = session.claim_webhook_deliveries(T0, T0 + 60, 10)
        assert {(c.delivery.endpoint, c.url, c.secret, c.partner) for c in claimed} == {
            (every, "https://a.example/hook", "whsec_a", "acme"),
            (picky, "https://a.example/collected", "whsec_b", "acme"),
        }
        assert session.claim_webhook_deliveries(T0 + 30, T0 + 90, 10) == []  # held
        first, second = (c.delivery.id for c in claimed)
        session.webhook_delivered(first, T0 + 1)
        session.webhook_retry(second, T0 + 100, "HTTP 500 from https://a.example/collected")
        assert session.claim_webhook_deliveries(T0 + 99, T0 + 200, 10) == []
        [again] = session.claim_webhook_deliveries(T0 + 100, T0 + 200, 10)
        assert again.delivery.id == second and again.delivery.attempts == 1
        session.webhook_failed(second, T0 + 101, "ConnectError")
        session.webhook_delivered(second, T0 + 102)  # given up: stays failed
        assert session.claim_webhook_deliveries(T0 + 1e6, T0 + 2e6, 10) == []
        by_id = {d.id: d for d in session.webhook_deliveries([every, picky])}
    assert (by_id[first].status, by_id[first].attempts, by_id[first].delivered_at) == (
        "delivered",
        1,
        T0 + 1,
    )
    assert (by_id[second].status, by_id[second].attempts) == ("failed", 2)
    assert by_id[second].last_error == "ConnectError"


def test_a_removed_endpoint_gets_nothing_more_and_its_pending_deliveries_end(
    any_store: CentralStore,
) -> None:
    every, picky, _ = endpoints(any_store)
    with any_store.transaction() as session:
        session.enqueue_webhook("acme", "msg_1", "parcel.collected", "{}", T0)
        assert session.disable_webhook_endpoint(every, T0 + 1)
        assert not session.disable_webhook_endpoint(every, T0 + 2)
        session.enqueue_webhook("acme", "msg_2", "parcel.collected", "{}", T0 + 3)
        claimed = session.claim_webhook_deliveries(T0 + 5, T0 + 60, 10)
        assert {(c.delivery.endpoint, c.delivery.message_id) for c in claimed} == {
            (picky, "msg_1"),
            (picky, "msg_2"),
        }
        ended = [d for d in session.webhook_deliveries([every]) if d.status == "failed"]
        assert [(d.message_id, d.last_error) for d in ended] == [("msg_1", "endpoint removed")]
        assert [e.id for e in session.webhook_endpoints("acme")] == [picky]
        assert len(session.webhook_endpoints("acme", include_disabled=True)) == 2


def test_given_up_deliveries_are_requeued_for_active_endpoints_only(
    any_store: CentralStore,
) -> None:
    every, picky, other = endpoints(any_store)
    with any_store.transaction() as session:
        session.enqueue_webhook("acme", "msg_1", "parcel.collected", "{}", T0)
        session.enqueue_webhook("bolt", "msg_1", "parcel.collected", "{}", T0)
        for claimed in session.claim_webhook_deliveries(T0, T0 + 60, 10):
            session.webhook_failed(claimed.delivery.id, T0 + 1, "HTTP 500")
        session.disable_webhook_endpoint(picky, T0 + 2)
        assert session.requeue_failed_webhooks([], T0 + 3) == 0
        assert session.requeue_failed_webhooks([every, picky], T0 + 3) == 1
        [again] = session.claim_webhook_deliveries(T0 + 3, T0 + 60, 10)
        assert (again.delivery.endpoint, again.delivery.attempts) == (every, 0)
        assert [d.status for d in session.webhook_deliveries([other])] == ["failed"]


# ---------------------------------------------------------------- racing claimants


def claim_all(location: str, results: Any) -> None:
    """Claim due deliveries ten at a time until none is left; put the ids claimed."""
    store = open_location(location)
    mine: list[int] = []
    try:
        while True:
            with store.transaction() as session:
                claimed = session.claim_webhook_deliveries(T0 + 1, T0 + LEASE_S, 10)
            if not claimed:
                break
            mine.extend(c.delivery.id for c in claimed)
    finally:
        store.close()
    results.put(mine)


def queue_deliveries(location: str, count: int) -> set[int]:
    store = open_location(location)
    every, picky, _ = endpoints(store)
    with store.transaction() as session:
        for n in range(count):
            session.enqueue_webhook("acme", f"msg_{n}", "parcel.collected", "{}", T0)
        ids = {d.id for d in session.webhook_deliveries([every, picky], limit=10 * count)}
    store.close()
    assert len(ids) == 2 * count
    return ids


@pytest.mark.parametrize("racing", ["threads", "processes"])
def test_two_claimants_never_hold_the_same_delivery(store_location: str, racing: str) -> None:
    ids = queue_deliveries(store_location, 100)
    results: Any = SPAWN.Queue() if racing == "processes" else Queue()
    if racing == "threads":
        runners: list[Any] = [
            threading.Thread(target=claim_all, args=(store_location, results)) for _ in range(2)
        ]
    else:
        runners = [SPAWN.Process(target=claim_all, args=(store_location, results)) for _ in "ab"]
    for runner in runners:
        runner.start()
    claims = [results.get(timeout=JOIN_TIMEOUT_S) for _ in runners]
    for runner in runners:
        runner.join(JOIN_TIMEOUT_S)
    assert Counter(i for claim in claims for i in claim) == Counter(ids)  # each exactly once
