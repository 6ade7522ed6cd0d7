"""The consumer's choice of site after a failed home delivery (central/delivery/choice.py),
through the real app (TestClient over create_app, a real SQLite file): the failed attempt's
link, the sites near the address with room, a choice that redirects the parcel at once with
its courier, the REDIRECT task at the window's end that then leaves it, and the refusals
(no room 409, window over 410, a link central did not make 404) that change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from central.delivery.choice import CHOICE_SOURCE, choice_token, choice_url
from central.notify.unsubscribe import link_key
from central.service.config import CentralConfig
from central.store import CentralStore, ReservationRecord
from central.store.open import store_location
from central.store.records import TaskKind
from central.web.app import create_app
from central.web.context import WebContext
from protocols.clock import ManualClock
from protocols.tokens import TokenSigner
from tests.central.central_rig import label
from tests.central.test_home_delivery import (
    HOLD_S,
    T0,
    attempt,
    config,
    courier_of,
    home_store,
    out,
    parcel,
    run_redirects,
    steps_of,
    token_of,
)

PUBLIC_URL = "https://parcels.example.sg"
WINDOW_S = 2 * 3600.0
FAILED_AT = T0 + 100  # the clock fixture's time: when the courier's attempt is recorded
CONSUMER = ("Tan Wei Ling", "wei.ling", "9123", "520101")  # announcement()'s, never shown


def choice_config(
    tmp_path: Path, window_s: float = WINDOW_S, public_url: str | None = PUBLIC_URL
) -> CentralConfig:
    return config(
        tmp_path,
        notify={"public_url": public_url, "link_secret_file": str(tmp_path / "link.key")},
        delivery={"choice_window_s": window_s},
    )


def app_client(
    tmp_path: Path,
    store: CentralStore,
    clock: ManualClock,
    window_s: float = WINDOW_S,
    public_url: str | None = PUBLIC_URL,
) -> TestClient:
    cfg = choice_config(tmp_path, window_s, public_url)
    ctx = WebContext(
        config=cfg,
        store=store,
        reader_location=store_location(cfg.store),
        signer=TokenSigner.generate(),
        clock=clock,
    )
    return TestClient(create_app(ctx))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CentralStore]:
    opened = home_store(tmp_path)
    yield opened
    opened.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(FAILED_AT)


@pytest.fixture
def client(tmp_path: Path, store: CentralStore, clock: ManualClock) -> TestClient:
    return app_client(tmp_path, store, clock)


def fail(client: TestClient, store: CentralStore, n: int, reason: str = "nobody_home") -> str:
    """Parcel n out and failed at the door; the path of its choice link."""
    _, headers = token_of(store, courier_of(store, n))
    assert out(client, headers, n).status_code == 200
    key = f"k-fail-{n}"
    answer = attempt(client, headers, n, attempt_key=key, outcome="failed", reason=reason)
    assert answer.status_code == 200, answer.text
    return urlsplit(link_of(client, n, key)).path


def link_of(client: TestClient, n: int, attempt_key: str) -> str:
    ctx: WebContext = client.app.state.ctx  # type: ignore[attr-defined]
    key = link_key(ctx.config.notify.link_secret_file)
    return choice_url(PUBLIC_URL, key, label(n), attempt_key)


def state_of(store: CentralStore, n: int) -> tuple[str | None, str | None, str | None]:
    record = parcel(store, n)
    return record.state, record.site, record.courier


def held(store: CentralStore, n: int) -> ReservationRecord | None:
    with store.transaction() as session:
        return session.held_reservation(label(n))


def test_the_consumer_picks_the_second_site_and_the_parcel_goes_there_with_its_courier(
    client: TestClient,
    store: CentralStore,
) -> None:
    courier = courier_of(store, 1)
    path = fail(client, store, 1)
    # Nothing is redirected before the window ends: the consumer has the time to choose.
    assert run_redirects(store, FAILED_AT + 60) == 0
    assert parcel(store, 1).state == "attempt_failed"

    shown = client.get(f"/api{path}")
    assert shown.status_code == 200, shown.text
    offer = shown.json()
    assert offer["choose_by"] == FAILED_AT + WINDOW_S and offer["chosen"] is None
    assert [(o["site"], o["kind"], o["distance_km"]) for o in offer["options"]] == [
        ("L0001", "locker", 0.3),
        ("C0001", "counter", 0.5),
        ("L0002", "locker", 0.9),
    ]
    page = client.get(path)
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "Tampines Mart" in page.text and 'method="post"' in page.text
    for private in CONSUMER:
        assert private not in page.text and private not in shown.text
    # Opening the link (a GET, a link preview) changed nothing.
    assert parcel(store, 1).state == "attempt_failed" and held(store, 1) is None

    second = offer["options"][1]["site"]
    chosen = client.post(f"/api{path}", json={"site": second})
    assert chosen.status_code == 200, chosen.text
    assert chosen.json()["site"]["name"] == "Tampines Mart"
    assert (chosen.json()["state"], chosen.json()["repeated"]) == ("redirected", False)
    assert state_of(store, 1) == ("redirected", "C0001", courier)
    assert parcel(store, 1).delivery_mode == "counter"
    reservation = held(store, 1)
    assert reservation is not None and reservation.site == "C0001"
    with store.transaction() as session:
        redirect = session.steps(label(1))[-1]
        queued = session.claim_tasks(FAILED_AT + 60, "test", FAILED_AT + 120)
    assert (redirect.step, redirect.source) == ("redirect", CHOICE_SOURCE)
    # The site is sent the reservation (a signed ReserveSlot, by a task).
    sends = [t for t in queued if t.kind is TaskKind.SEND_COMMAND and t.site == "C0001"]
    assert [t.label for t in sends] == [label(1)] and "reserve_slot" in sends[0].payload

    # The same choice again (a double tap): the same answer, nothing done again.
    again = client.post(f"/api{path}", json={"site": second})
    assert again.status_code == 200
    assert (again.json()["site"], again.json()["repeated"]) == (chosen.json()["site"], True)
    other = client.post(f"/api{path}", json={"site": "L0001"})
    assert other.status_code == 410 and "chosen already" in other.json()["detail"]
    assert client.get(f"/api{path}").json()["chosen"]["site"] == "C0001"

    # The task at the window's end finds the parcel redirected and leaves it.
    assert run_redirects(store, FAILED_AT + WINDOW_S) == 1
    assert state_of(store, 1) == ("redirected", "C0001", courier)
    assert steps_of(store, 1).count("redirect") == 1
    assert held(store, 1) == reservation


def test_the_page_form_chooses_and_shows_the_choice(
    client: TestClient,
    store: CentralStore,
) -> None:
    path = fail(client, store, 1)
    # A GET of the form's address never chooses; the form posts.
    assert client.get(path, params={"site": "L0002"}).status_code == 200
    assert parcel(store, 1).state == "attempt_failed"
    posted = client.post(path, data={"site": "L0002"}, follow_redirects=False)
    assert posted.status_code == 303 and posted.headers["location"] == path
    assert state_of(store, 1)[:2] == ("redirected", "L0002")
    page = client.get(path)
    assert page.status_code == 200 and "Your parcel goes to Tampines East Locker" in page.text


def test_a_site_with_no_room_is_refused_and_nothing_changes(
    client: TestClient,
    store: CentralStore,
) -> None:
    path = fail(client, store, 1)
    # L0002's three M compartments are taken after the page was opened.
    before = [o["site"] for o in client.get(f"/api{path}").json()["options"]]
    assert "L0002" in before
    with store.transaction() as session:
        for i in range(3):
            session.add_reservation(
                ReservationRecord(f"FILL{i}", "L0002", "M", T0, T0 + HOLD_S, slot=None)
            )
    steps = steps_of(store, 1)
    full = client.post(f"/api{path}", json={"site": "L0002"})
    assert full.status_code == 409
    assert "Tampines East Locker" in full.json()["detail"]
    assert "choose another" in full.json()["detail"]
    far = client.post(f"/api{path}", json={"site": "L9999"})
    assert far.status_code == 422 and "L9999" in far.json()["detail"]
    assert steps_of(store, 1) == steps and held(store, 1) is None
    assert parcel(store, 1).state == "attempt_failed"
    # The list no longer offers it; another site can still be chosen.
    assert "L0002" not in [o["site"] for o in client.get(f"/api{path}").json()["options"]]
    assert client.post(f"/api{path}", json={"site": "L0001"}).status_code == 200
    assert state_of(store, 1)[:2] == ("redirected", "L0001")


def test_after_the_window_or_central_s_redirect_the_link_is_gone(
    client: TestClient,
    store: CentralStore,
    clock: ManualClock,
) -> None:
    path = fail(client, store, 1)
    clock.advance(WINDOW_S)  # the window's end: not yet redirected, but too late to choose
    late = client.post(f"/api{path}", json={"site": "C0001"})
    assert late.status_code == 410 and "time to choose ended" in late.json()["detail"]
    assert client.get(f"/api{path}").status_code == 410
    assert client.get(path).status_code == 410
    assert parcel(store, 1).state == "attempt_failed" and held(store, 1) is None
    assert run_redirects(store, clock.now()) == 1
    assert state_of(store, 1)[:2] == ("redirected", "L0001")
    gone = client.post(f"/api{path}", json={"site": "C0001"})
    assert gone.status_code == 410 and "already" in gone.json()["detail"]
    assert state_of(store, 1)[:2] == ("redirected", "L0001")


def test_a_forged_link_or_another_parcels_is_404(
    client: TestClient,
    store: CentralStore,
) -> None:
    path = fail(client, store, 1)
    other = fail(client, store, 2)
    token_1, token_2 = path.rsplit("/", 1)[1], other.rsplit("/", 1)[1]
    forged = choice_token(b"x" * 64, label(1), "k-fail-1")
    for wrong in (
        f"/choose/{label(1)}/{token_2}",  # parcel 2's token on parcel 1
        f"/choose/{label(1)}/{forged}",  # the right message under another key
        f"/choose/{label(1)}/{token_1[:-1]}",
        f"/choose/XX0000000000SG/{token_1}",
        f"/choose/{label(1)}/{'A' * 500}",
    ):
        assert client.get(f"/api{wrong}").status_code == 404, wrong
        assert client.get(wrong).status_code == 404, wrong
        answer = client.post(f"/api{wrong}", json={"site": "L0001"})
        assert answer.status_code == 404, wrong
        assert "not one we sent" in answer.json()["detail"]
    assert parcel(store, 1).state == "attempt_failed" and held(store, 1) is None


def test_without_a_choice_the_task_at_the_windows_end_redirects_to_the_nearest(
    client: TestClient,
    store: CentralStore,
) -> None:
    fail(client, store, 1)
    assert run_redirects(store, FAILED_AT + WINDOW_S - 1) == 0
    assert run_redirects(store, FAILED_AT + WINDOW_S) == 1
    record = parcel(store, 1)
    assert (record.state, record.site, record.slot) == ("redirected", "L0001", "A")
    with store.transaction() as session:
        assert session.steps(label(1))[-1].source != CHOICE_SOURCE


def test_a_refused_parcel_is_returned_at_once_and_offered_no_choice(
    client: TestClient,
    store: CentralStore,
) -> None:
    path = fail(client, store, 1, reason="refused")
    assert run_redirects(store, FAILED_AT + 1) == 1
    assert parcel(store, 1).state == "returned"
    assert client.get(f"/api{path}").status_code == 410


def failed_messages(store: CentralStore, n: int) -> list[Any]:
    with store.transaction() as session:
        return [m for m in session.notifications(label(n)) if m.message == "failed_attempt"]


def test_the_failed_attempt_message_carries_the_link_and_the_time_to_choose_by(
    client: TestClient,
    store: CentralStore,
) -> None:
    fail(client, store, 1)
    link = link_of(client, 1, "k-fail-1")
    messages = failed_messages(store, 1)
    assert {m.channel for m in messages} == {"email", "sms"}
    email = next(m for m in messages if m.channel == "email")
    sms = next(m for m in messages if m.channel == "sms")
    assert link in email.body and link in sms.body
    # 2 hours after the attempt, in Singapore time (T0 + 100 is 15 Jan 2027 16:01 SGT); the
    # SMS, one message long, has room for the link alone.
    assert "before Fri 15 Jan 18:01 SGT" in email.body


@pytest.mark.parametrize(
    ("window_s", "public_url"), [(0, PUBLIC_URL), (WINDOW_S, None)], ids=["no window", "no url"]
)
def test_with_no_window_or_no_address_to_link_to_the_parcel_is_redirected_at_once(
    tmp_path: Path,
    store: CentralStore,
    clock: ManualClock,
    window_s: float,
    public_url: str | None,
) -> None:
    client = app_client(tmp_path, store, clock, window_s, public_url)
    path = fail(client, store, 1)
    for message in failed_messages(store, 1):
        assert "/choose/" not in message.body and "choose" not in message.body.lower()
    assert client.get(f"/api{path}").status_code == 410
    assert run_redirects(store, FAILED_AT) == 1
    assert state_of(store, 1)[:2] == ("redirected", "L0001")


def test_the_link_is_bound_to_its_attempt_a_later_attempt_has_its_own(
    client: TestClient, store: CentralStore
) -> None:
    first = fail(client, store, 1)
    # The courier takes the parcel out again within the window, and fails again.
    _, headers = token_of(store, courier_of(store, 1))
    assert out(client, headers, 1).status_code == 200
    moved_on = client.get(f"/api{first}")
    assert moved_on.status_code == 410 and "out_for_delivery" in moved_on.json()["detail"]
    answer = attempt(
        client, headers, 1, attempt_key="k-fail-1-again", outcome="failed", reason="nobody_home"
    )
    assert answer.status_code == 200, answer.text
    old = client.post(f"/api{first}", json={"site": "L0001"})
    assert old.status_code == 410 and "again after this attempt" in old.json()["detail"]
    second = urlsplit(link_of(client, 1, "k-fail-1-again")).path
    assert client.post(f"/api{second}", json={"site": "L0001"}).status_code == 200
    assert state_of(store, 1)[:2] == ("redirected", "L0001")


def test_a_failure_at_night_opens_its_window_when_the_message_is_sent_in_the_morning(
    tmp_path: Path, store: CentralStore
) -> None:
    """22:00 in Singapore: the failed-attempt message waits for 08:00 (quiet hours), and the
    consumer's time to choose runs from then, not from a window that closed overnight."""
    night = T0 + 6 * 3600.0  # T0 is 16:00 SGT
    morning = T0 + 16 * 3600.0  # 08:00 SGT the next day
    clock = ManualClock(night)
    client = app_client(tmp_path, store, clock)
    path = fail(client, store, 1)
    assert run_redirects(store, night + WINDOW_S) == 0  # a window from 22:00 would be over
    clock.advance(morning + WINDOW_S - 60 - night)
    offer = client.get(f"/api{path}")
    assert offer.status_code == 200, offer.text
    chosen = client.post(f"/api{path}", json={"site": "C0001"})
    assert chosen.status_code == 200, chosen.text
    assert state_of(store, 1)[:2] == ("redirected", "C0001")
