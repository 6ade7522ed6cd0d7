"""Public tracking with no login: the steps and the pickup place, never the consumer's
contact, the courier, codes or the compartment; one 404 for unknown and malformed labels."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from central.web.auth import Role
from tests.central.central_rig import label
from tests.web.conftest import CONTACT, PARCEL, T0

Client = Callable[[Role | None], TestClient]


def test_the_page_shows_the_steps_in_singapore_time_and_the_pickup_place(client: Client) -> None:
    page = client(None).get(f"/track/{PARCEL}")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "Pickup code sent to you" in html  # the newest step is the status
    assert "Tampines Hub Locker" in html
    assert "parcel locker, Tampines" in html
    # T0 + 7200 (the deposit) is 2027-01-15 10:00 UTC, 18:00 in Singapore.
    assert "Fri 15 Jan 18:00 SGT" in html
    for text in ("The sender told us", "Out for delivery", "ready to collect"):
        assert text in html
    assert "Collect by:" in html and "Mon 18 Jan 18:00 SGT" in html


def test_tracking_never_shows_contact_courier_codes_or_the_compartment(client: Client) -> None:
    anonymous = client(None)
    for path in (f"/track/{PARCEL}", f"/api/track/{PARCEL}"):
        text = anonymous.get(path).text
        for secret in (*CONTACT, "K1", "post", "site L0001 seq", "L0001"):
            assert secret not in text, (path, secret)
    body = anonymous.get(f"/api/track/{PARCEL}").json()
    assert set(body) == {
        "label",
        "status",
        "pickup_place",
        "collect_by",
        "collect_by_local",
        "steps",
    }
    assert body["pickup_place"] == {
        "name": "Tampines Hub Locker",
        "kind": "locker",
        "area": "Tampines",
    }
    assert [set(step) for step in body["steps"]] == [{"what", "at", "local_time"}] * 5
    assert body["steps"][3]["at"] == T0 + 7200


def test_an_announced_parcel_has_no_pickup_place_yet(client: Client) -> None:
    body = client(None).get(f"/api/track/{label(2).lower()}").json()
    assert body["label"] == label(2)
    assert body["pickup_place"] is None
    assert body["collect_by"] is None
    assert [s["what"] for s in body["steps"]] == ["The sender told us your parcel is coming"]


def test_unknown_and_malformed_labels_get_the_same_404(client: Client) -> None:
    anonymous = client(None)
    answers = [anonymous.get(f"/api/track/{each}") for each in (label(999), "RR123", "<script>")]
    assert [a.status_code for a in answers] == [404, 404, 404]
    assert len({a.text for a in answers}) == 1
    assert "no parcel with that tracking number" in answers[0].json()["detail"]
    page = anonymous.get("/track/%3Cscript%3Ealert(1)")
    assert page.status_code == 404
    assert "Parcel not found" in page.text
    assert "<script>alert" not in page.text  # shown escaped
    assert "&lt;script&gt;alert(1)" in page.text
    unknown_page = anonymous.get(f"/track/{label(999)}")
    assert unknown_page.status_code == 404
    assert "no parcel with that tracking number" in unknown_page.text
