"""Home delivery through the couriers' handheld API (TestClient over create_app, a real SQLite
file): a courier's round, out for delivery with the consumer's one-time code, delivered with a
proof or failed with a reason, retried calls that change nothing, refusals that change
nothing, and the redirect of a failed parcel to the nearest site with room (or its return)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from central.capacity.reservations import Reservations
from central.delivery.door import send_out
from central.delivery.redirect import Redirects
from central.delivery.tokens import issue_token, revoke_token
from central.parcels.lifecycle import ParcelStep
from central.parcels.pickup import FolderReminders, PickupFollowUps
from central.parcels.pickup_codes import FolderNotifier
from central.parcels.steps import announce, take_step
from central.service.config import CentralConfig, parse_config
from central.sites import registry
from central.store import CentralStore, ParcelRecord, TaskRecord
from central.store.open import open_store, store_location
from central.store.queries.deliveries import CourierTokenRecord
from central.store.records import TaskKind
from central.web.app import create_app
from central.web.context import WebContext
from protocols.clock import ManualClock
from protocols.messages import SizeClass, SlotState
from protocols.tokens import TokenSigner
from tests.central.central_rig import announcement, label, small_network, snapshot

T0 = 1_800_000_000.0
HOLD_S = 3600.0
HOME = 5  # home parcels announced for every test: label(1) .. label(5)


def config(tmp_path: Path, **sections: dict[str, Any]) -> CentralConfig:
    """The tests' central config: no choice window (a failed parcel is redirected at once,
    as these tests expect; tests/central/test_delivery_choice.py gives one), unless
    `sections` say otherwise."""
    data: dict[str, dict[str, Any]] = {
        "store": {"path": str(tmp_path / "central.sqlite")},
        "keys": {"signing_key": str(tmp_path / "central-key.pem")},
        "api": {"session_secret_file": str(tmp_path / "session.key")},
        "notify": {"link_secret_file": str(tmp_path / "notify-link.key")},
        "delivery": {"choice_window_s": 0},
    }
    return parse_config({**data, **sections}, "test config", environ={})


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CentralStore]:
    opened = home_store(tmp_path)
    yield opened
    opened.close()


def home_store(tmp_path: Path) -> CentralStore:
    """A store with the small network's sites (L0001's five compartments free) and HOME
    parcels for home delivery, placed: each assigned to a courier."""
    opened = open_store(config(tmp_path).store)
    with opened.transaction() as session:
        registry.load_network(session, small_network())
        free = [("A", "S"), ("B", "S"), ("C", "M"), ("D", "M"), ("E", "L")]
        registry.apply_snapshot(
            session,
            snapshot("L0001", [(s, SizeClass(z), SlotState.FREE, None) for s, z in free]),
            T0,
        )
        for n in range(1, HOME + 1):
            announce(session, announcement(n, preferred_mode="home"), T0)
    Reservations(opened, small_network(), HOLD_S).place([label(n) for n in range(1, 6)], T0)
    return opened


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0 + 100)


@pytest.fixture
def client(tmp_path: Path, store: CentralStore, clock: ManualClock) -> TestClient:
    cfg = config(tmp_path)
    ctx = WebContext(
        config=cfg,
        store=store,
        reader_location=store_location(cfg.store),
        signer=TokenSigner.generate(),
        clock=clock,
    )
    return TestClient(create_app(ctx))


def parcel(store: CentralStore, n: int) -> ParcelRecord:
    with store.transaction() as session:
        record = session.get_parcel(label(n))
    assert record is not None
    return record


def token_of(store: CentralStore, courier: str) -> tuple[CourierTokenRecord, dict[str, str]]:
    partner = "post" if courier == "K1" else "fast"
    with store.transaction() as session:
        issued = issue_token(session, courier, partner, T0)
    return issued.record, {"Authorization": f"Bearer {issued.text}"}


def courier_of(store: CentralStore, n: int) -> str:
    courier = parcel(store, n).courier
    assert courier is not None, "dispatch gave every home parcel a courier"
    return courier


def out(client: TestClient, headers: dict[str, str], *numbers: int) -> Any:
    return client.post(
        "/api/courier/out-for-delivery",
        headers=headers,
        json={"labels": [label(n) for n in numbers]},
    )


def attempt(client: TestClient, headers: dict[str, str], n: int, **body: Any) -> Any:
    return client.post(f"/api/courier/parcels/{label(n)}/attempts", headers=headers, json=body)


def steps_of(store: CentralStore, n: int) -> list[str]:
    with store.transaction() as session:
        return [s.step for s in session.steps(label(n))]


def test_a_call_without_a_live_handheld_token_is_401(
    client: TestClient, store: CentralStore
) -> None:
    assert client.get("/api/courier/round").status_code == 401
    record, good = token_of(store, courier_of(store, 1))
    for headers in (
        {"Authorization": good["Authorization"][:-4] + "AAAA"},
        {"Authorization": "Bearer lnc_nope_nope"},
        {"Authorization": "Bearer lnk_partner_key"},
    ):
        answer = client.get("/api/courier/round", headers=headers)
        assert answer.status_code == 401, headers
        assert answer.headers["www-authenticate"] == "Bearer"
    assert client.get("/api/courier/round", headers=good).status_code == 200
    with store.transaction() as session:
        revoke_token(session, record.token_id, T0 + 1)
    assert client.get("/api/courier/round", headers=good).status_code == 401


def test_the_round_lists_the_couriers_own_home_parcels_without_the_consumer(
    client: TestClient, store: CentralStore
) -> None:
    courier = courier_of(store, 1)
    mine = sorted(label(n) for n in range(1, HOME + 1) if courier_of(store, n) == courier)
    _, headers = token_of(store, courier)
    answer = client.get("/api/courier/round", headers=headers)
    assert answer.status_code == 200
    listed = answer.json()
    assert [p["label"] for p in listed] == mine
    assert listed[0]["postal_code"] == "520101" and listed[0]["state"] == "assigned"
    assert "Tan Wei Ling" not in answer.text and "wei.ling" not in answer.text


def test_delivered_with_the_consumers_one_time_code_and_a_wrong_code_changes_nothing(
    client: TestClient, store: CentralStore
) -> None:
    token, headers = token_of(store, courier_of(store, 1))
    with store.transaction() as session:
        [sent] = send_out(session, token, [label(1)], T0 + 50)
    assert sent.code is not None and len(sent.code) == 6
    assert parcel(store, 1).state == "out_for_delivery"
    wrong = f"{(int(sent.code) + 1) % 10**6:06d}"
    refused = attempt(
        client, headers, 1, attempt_key="k-wrong-code", outcome="delivered",
        proof_kind="code", proof=wrong,
    )  # fmt: skip
    assert refused.status_code == 422
    assert "not the consumer's" in refused.json()["detail"]
    assert parcel(store, 1).state == "out_for_delivery"
    with store.transaction() as session:
        assert session.delivery_attempts(label(1)) == []
    done = attempt(
        client, headers, 1, attempt_key="k-right-code", outcome="delivered",
        proof_kind="code", proof=sent.code,
    )  # fmt: skip
    assert done.status_code == 200, done.text
    assert (done.json()["state"], done.json()["repeated"]) == ("delivered", False)
    assert parcel(store, 1).state == "delivered"
    assert steps_of(store, 1)[-2:] == ["hand_to_courier", "deliver"]
    with store.transaction() as session:
        [made] = session.delivery_attempts(label(1))
    assert (made.proof_kind, made.proof_ref) == ("code", None)  # a code is never stored


def test_out_for_delivery_then_delivered_with_a_photo_retried_calls_change_nothing(
    client: TestClient, store: CentralStore
) -> None:
    courier = courier_of(store, 1)
    mine = [n for n in range(1, HOME + 1) if courier_of(store, n) == courier]
    _, headers = token_of(store, courier)
    first = out(client, headers, *mine)
    assert first.status_code == 200, first.text
    assert first.json() == {"out_for_delivery": [label(n) for n in mine], "already_out": []}
    again = out(client, headers, *mine)
    assert again.json() == {"out_for_delivery": [], "already_out": [label(n) for n in mine]}
    body = {
        "attempt_key": "round1-parcel1",
        "outcome": "delivered",
        "proof_kind": "photo",
        "proof": "photo://handheld-7/2027-01-15/0042.jpg",
    }
    answers = [attempt(client, headers, mine[0], **body) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.json()["repeated"] for a in answers] == [False, True, True]
    assert {a.json()["at"] for a in answers} == {answers[0].json()["at"]}
    assert steps_of(store, mine[0]).count("deliver") == 1
    assert steps_of(store, mine[0]).count("hand_to_courier") == 1
    with store.transaction() as session:
        assert len(session.delivery_attempts(label(mine[0]))) == 1
    # The key again for another parcel is a mistake of the handheld's: refused.
    if len(mine) > 1:
        reused = attempt(client, headers, mine[1], **body)
        assert reused.status_code == 409
        assert "round1-parcel1" in reused.json()["detail"]
        assert parcel(store, mine[1]).state == "out_for_delivery"


def test_bad_requests_are_refused_with_the_reason_and_change_nothing(
    client: TestClient, store: CentralStore
) -> None:
    courier = courier_of(store, 1)
    mine = [n for n in range(1, HOME + 1) if courier_of(store, n) == courier]
    theirs = [n for n in range(1, HOME + 1) if courier_of(store, n) != courier]
    _, headers = token_of(store, courier)
    before = {n: steps_of(store, n) for n in range(1, HOME + 1)}
    unknown = client.post(
        "/api/courier/out-for-delivery", headers=headers, json={"labels": [label(1), "XX9"]}
    )
    assert unknown.status_code == 404 and "XX9" in unknown.json()["detail"]
    if theirs:  # another courier's parcel is not on this round, told apart from no parcel
        other = out(client, headers, mine[0], theirs[0])
        assert other.status_code == 404 and label(theirs[0]) in other.json()["detail"]
    not_out = attempt(
        client, headers, mine[0], attempt_key="k-not-out", outcome="failed", reason="refused"
    )
    assert not_out.status_code == 409 and "not out for delivery" in not_out.json()["detail"]
    assert out(client, headers, mine[0]).status_code == 200
    before[mine[0]] = steps_of(store, mine[0])
    no_proof = attempt(client, headers, mine[0], attempt_key="k-no-proof", outcome="delivered")
    assert no_proof.status_code == 422 and "needs a proof" in no_proof.json()["detail"]
    no_reason = attempt(client, headers, mine[0], attempt_key="k-no-reason", outcome="failed")
    assert no_reason.status_code == 422 and "needs a reason" in no_reason.json()["detail"]
    odd = attempt(
        client, headers, mine[0], attempt_key="k-odd", outcome="failed", reason="dog_bit_me"
    )
    assert odd.status_code == 422
    assert {n: steps_of(store, n) for n in range(1, HOME + 1)} == before
    with store.transaction() as session:
        assert session.delivery_outcomes() == {}
        assert session.claim_tasks(T0 + 1e6, "test", T0 + 2e6) == []


def fail(client: TestClient, store: CentralStore, n: int, reason: str, key: str) -> None:
    _, headers = token_of(store, courier_of(store, n))
    assert out(client, headers, n).status_code == 200
    answer = attempt(client, headers, n, attempt_key=key, outcome="failed", reason=reason)
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "attempt_failed"


def run_redirects(store: CentralStore, now: float) -> int:
    """Run the due REDIRECT tasks as central's task runner would; how many there were."""
    with store.transaction() as session:
        tasks = session.claim_tasks(now, "test", now + 60)
        for other in (t for t in tasks if t.kind is not TaskKind.REDIRECT):
            assert other.id is not None
            session.retry_task(other.id, now, "not this test's")  # left for later looks
    redirects = [t for t in tasks if t.kind is TaskKind.REDIRECT]
    Redirects(store, small_network(), HOLD_S).run_tasks(redirects, now)
    return len(redirects)


def test_a_failed_attempt_is_redirected_to_the_nearest_locker_with_room(
    client: TestClient, store: CentralStore
) -> None:
    fail(client, store, 1, "nobody_home", "k-fail-1")
    with store.transaction() as session:
        told = [n for n in session.notifications(label(1)) if n.message == "failed_attempt"]
    assert {n.channel for n in told} == {"email", "sms"}
    assert "nobody" in told[0].body.lower()
    assert run_redirects(store, T0 + 200) == 1
    record = parcel(store, 1)
    assert (record.state, record.site, record.delivery_mode) == ("redirected", "L0001", "locker")
    assert record.slot == "A"  # the best fit for an S parcel at the nearest locker
    with store.transaction() as session:
        reservation = session.held_reservation(label(1))
        queued = session.claim_tasks(T0 + 200, "test", T0 + 260)
    assert reservation is not None and reservation.slot == "A"
    # The site is told of the reservation (a signed ReserveSlot, sent by a task).
    sends = [t for t in queued if t.kind is TaskKind.SEND_COMMAND and t.site == "L0001"]
    assert [t.label for t in sends] == [label(1)]
    assert "reserve_slot" in sends[0].payload
    assert steps_of(store, 1)[-3:] == ["hand_to_courier", "fail_attempt", "redirect"]
    # The task is done: running the redirects again finds nothing and changes nothing.
    assert run_redirects(store, T0 + 300) == 0
    assert steps_of(store, 1).count("redirect") == 1
    # The phone lost the answer and calls again after the redirect: the first answer.
    _, headers = token_of(store, courier_of(store, 1))
    again = attempt(
        client, headers, 1, attempt_key="k-fail-1", outcome="failed", reason="nobody_home"
    )
    assert again.status_code == 200, again.text
    assert (again.json()["repeated"], again.json()["state"]) == (True, "redirected")
    assert steps_of(store, 1).count("fail_attempt") == 1


def test_a_refused_parcel_and_one_no_site_has_room_for_are_returned(
    client: TestClient, store: CentralStore
) -> None:
    fail(client, store, 1, "refused", "k-refused")
    assert run_redirects(store, T0 + 200) == 1
    assert parcel(store, 1).state == "returned"
    # Fill every site near the address, then a parcel nobody was home for goes back too.
    with store.transaction() as session:
        for site, size, count in (("L0001", "S", 2), ("L0001", "M", 2), ("L0001", "L", 1)):
            for i in range(count):
                session.add_reservation(_hold(site, size, f"FILL{site}{size}{i}"))
    network = small_network()
    room = {s.id: s for s in network.sites}
    with store.transaction() as session:
        for i in range(room["L0002"].compartments[SizeClass.M]):
            session.add_reservation(_hold("L0002", "M", f"FILLL0002{i}"))
        for i in range(room["C0001"].shelf_capacity):
            session.add_reservation(_hold("C0001", "shelf", f"FILLC0001{i}"))
    fail(client, store, 2, "address_not_found", "k-no-room")
    assert run_redirects(store, T0 + 300) == 1
    record = parcel(store, 2)
    assert record.state == "returned" and record.site is None
    with store.transaction() as session:
        why = session.steps(label(2))[-1].detail or ""
    assert "no locker or collection point" in why


def _hold(site: str, size: str, parcel_label: str) -> Any:
    from central.store import ReservationRecord

    return ReservationRecord(
        label=parcel_label, site=site, size=size, created_at=T0, until=T0 + HOLD_S, slot=None
    )


def test_a_redirected_parcel_deposited_at_its_locker_gets_a_new_code_in_the_redirect_message(
    client: TestClient, store: CentralStore, tmp_path: Path
) -> None:
    fail(client, store, 1, "nobody_home", "k-fail-1")
    assert run_redirects(store, T0 + 200) == 1
    # The courier's next round at L0001: the site reports the deposit, and central applies
    # it as ingest does, with the code's task.
    deposit_at = T0 + 400
    with store.transaction() as session:
        record = session.get_parcel(label(1))
        assert record is not None
        take_step(
            session,
            record,
            ParcelStep.DEPOSIT,
            at=deposit_at,
            source="site L0001 event 7",
            now=deposit_at,
            site="L0001",
            slot="A",
            pickup_expires_at=deposit_at + 3 * 86400,
        )
        task = session.add_task(
            TaskRecord(TaskKind.ISSUE_CODE, deposit_at, label=label(1), site="L0001")
        )
        [claimed] = [
            t for t in session.claim_tasks(deposit_at, "test", deposit_at + 60) if t.id == task
        ]
    outbox = tmp_path / "outbox"
    signer = TokenSigner.generate()
    PickupFollowUps(store, signer, FolderNotifier(outbox), FolderReminders(outbox)).issue_codes(
        [claimed], deposit_at
    )
    with store.transaction() as session:
        [code] = session.codes(label(1))
        messages = session.notifications(label(1))
    assert code.site == "L0001"
    redirect = [m for m in messages if m.message == "redirect"]
    assert {m.channel for m in redirect} == {"email", "sms"}
    assert all(code.short_form in m.body for m in redirect)
    assert "Tampines Hub Locker" in next(m.body for m in redirect if m.channel == "email")
    assert not [m for m in messages if m.message == "ready_for_pickup"]


def test_a_redirected_parcel_its_courier_never_brought_becomes_an_exception_when_its_hold_lapses(
    client: TestClient, store: CentralStore
) -> None:
    fail(client, store, 1, "nobody_home", "k-fail-1")
    assert run_redirects(store, T0 + 200) == 1
    lapsed = Reservations(store, small_network(), HOLD_S).lapse_due(T0 + 200 + HOLD_S + 1)
    assert lapsed == [label(1)]
    record = parcel(store, 1)
    assert (record.state, record.site) == ("exception", None)
    with store.transaction() as session:
        why = session.steps(label(1))[-1]
    assert why.step == "reservation_lapsed" and "L0001" in (why.detail or "")
