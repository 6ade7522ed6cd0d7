"""The notification queue and opt-outs on each store: what the sender and the queue rely on."""

from __future__ import annotations

import threading
from datetime import datetime

from central.notify import MessageKind, queue_notification
from central.store.base import CentralStore
from central.store.records import Contact, ParcelRecord, ParcelState
from protocols.localtime import NETWORK_ZONE
from tests.central.store_contract.racers import retried
from tests.central.store_contract.samples import T0
from tests.central.store_contract.stores import open_location

# 23:30 in Singapore: quiet hours; they end at 08:00 next morning.
NIGHT = datetime(2027, 1, 15, 23, 30, tzinfo=NETWORK_ZONE).timestamp()
MORNING = datetime(2027, 1, 16, 8, 0, tzinfo=NETWORK_ZONE).timestamp()
FACTS = {"short_form": "7KQ2-M9XD", "site_name": "Tampines Hub", "until": T0 + 86400}


def _parcel(label: str = "LN0000000001SG", **contact: str) -> ParcelRecord:
    fields = {"name": "Mei", "email": "Mei@Example.COM", "phone": "9123 4567"} | contact
    return ParcelRecord(label=label, state=ParcelState.READY_FOR_PICKUP, contact=Contact(**fields))


def test_a_message_is_queued_once_per_channel_and_step(any_store: CentralStore) -> None:
    with any_store.transaction() as session:
        first = queue_notification(
            session, _parcel(), MessageKind.READY_FOR_PICKUP, "code-1", T0, FACTS
        )
        again = queue_notification(
            session, _parcel(), MessageKind.READY_FOR_PICKUP, "code-1", T0 + 5, FACTS
        )
        other_step = queue_notification(
            session, _parcel(), MessageKind.READY_FOR_PICKUP, "code-2", T0, FACTS
        )
    assert (first, again, other_step) == (2, 0, 2)
    with any_store.transaction() as view:
        rows = view.notifications("LN0000000001SG")
    assert [(r.channel, r.recipient, r.step_key) for r in rows] == [
        ("email", "mei@example.com", "code-1"),
        ("sms", "+6591234567", "code-1"),
        ("email", "mei@example.com", "code-2"),
        ("sms", "+6591234567", "code-2"),
    ]
    assert "7KQ2-M9XD" in rows[0].body and rows[0].subject
    assert all(r.status == "pending" for r in rows)


def test_claimed_messages_are_not_claimed_again_until_their_lease_ends(
    any_store: CentralStore,
) -> None:
    with any_store.transaction() as session:
        queue_notification(session, _parcel(), MessageKind.REMINDER, "r", T0, FACTS)
    with any_store.transaction() as session:
        claimed = session.claim_notifications(T0, T0 + 60, 10)
        again = session.claim_notifications(T0 + 1, T0 + 61, 10)
    assert len(claimed) == 2 and again == []
    with any_store.transaction() as session:
        session.notification_sent(claimed[0].id, T0 + 2, "prov-1")
        session.notification_retry(claimed[1].id, T0 + 30, "provider said 500")
    with any_store.transaction() as session:
        later = session.claim_notifications(T0 + 61, T0 + 120, 10)
    assert [r.id for r in later] == [claimed[1].id]
    assert later[0].attempts == 1 and later[0].last_error == "provider said 500"
    with any_store.transaction() as view:
        assert view.notification_counts() == {("email", "sent"): 1, ("sms", "pending"): 1}


def test_an_opt_out_stops_queued_and_future_messages_on_that_channel(
    any_store: CentralStore,
) -> None:
    with any_store.transaction() as session:
        queue_notification(session, _parcel(), MessageKind.READY_FOR_PICKUP, "c", T0, FACTS)
        assert session.add_opt_out("sms", "+6591234567", T0 + 1)
        assert not session.add_opt_out("sms", "+6591234567", T0 + 2)
        written = queue_notification(session, _parcel(), MessageKind.REMINDER, "r", T0 + 3, FACTS)
    assert written == 1  # the e-mail only
    with any_store.transaction() as view:
        rows = view.notifications()
    assert [(r.message, r.channel, r.status) for r in rows] == [
        ("ready_for_pickup", "email", "pending"),
        ("ready_for_pickup", "sms", "failed"),
        ("reminder", "email", "pending"),
    ]
    assert rows[1].last_error == "opted out"


def test_a_message_made_at_night_is_due_in_the_morning(any_store: CentralStore) -> None:
    with any_store.transaction() as session:
        queue_notification(session, _parcel(), MessageKind.REMINDER, "r", NIGHT, FACTS)
    with any_store.transaction() as view:
        due = {r.due_at for r in view.notifications()}
        assert view.next_notification_due() == MORNING
    assert due == {MORNING}


def test_two_senders_claiming_at_once_never_take_one_message_twice(
    any_store: CentralStore, store_location: str
) -> None:
    with any_store.transaction() as session:
        for n in range(20):
            queue_notification(
                session, _parcel(f"LN{n:010d}SG"), MessageKind.REMINDER, "r", T0, FACTS
            )
    taken: list[list[int]] = [[], []]

    def claim_all(mine: list[int]) -> None:
        store = open_location(store_location)
        try:
            while True:

                def claim() -> list[int]:
                    with store.transaction() as session:
                        return [n.id for n in session.claim_notifications(T0, T0 + 600, 3)]

                ids = retried(store, claim)
                if not ids:
                    return
                mine.extend(ids)
        finally:
            store.close()

    threads = [threading.Thread(target=claim_all, args=(mine,)) for mine in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    every = taken[0] + taken[1]
    assert len(every) == 40 and len(set(every)) == 40
