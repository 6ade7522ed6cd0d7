"""The partner API through the real app (TestClient over create_app, a real SQLite file):
keys and scopes, manifests with the import's row-by-row checks, each partner seeing only its
own parcels and nobody's contact details, webhook endpoints managed per partner."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from standardwebhooks import Webhook

from central.parcels.lifecycle import ParcelStep
from central.parcels.steps import take_step
from central.partners.keys import Scope, add_partner, issue_key, revoke_key
from central.service.config import CentralConfig, parse_config
from central.store import CentralStore
from central.store.open import open_store, store_location
from central.web.app import create_app
from central.web.context import WebContext
from protocols.clock import ManualClock
from protocols.tokens import TokenSigner
from tests.central.central_rig import announcement, label

T0 = 1_800_000_000.0
CONTACT = ("Tan Wei Ling", "+65 9123 4567", "wei.ling@example.sg")  # announcement()'s
ALL = (Scope.PARCELS_WRITE, Scope.PARCELS_READ, Scope.WEBHOOKS_MANAGE)


def config(tmp_path: Path) -> CentralConfig:
    return parse_config(
        {
            "store": {"path": str(tmp_path / "central.sqlite")},
            "keys": {"signing_key": str(tmp_path / "central-key.pem")},
            "api": {"session_secret_file": str(tmp_path / "session.key")},
        },
        "test config",
        environ={},
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CentralStore]:
    opened = open_store(config(tmp_path).store)
    with opened.transaction() as session:
        add_partner(session, "acme", "Acme Express", T0)
        add_partner(session, "bolt", "Bolt Logistics", T0)
    yield opened
    opened.close()


@pytest.fixture
def client(tmp_path: Path, store: CentralStore) -> TestClient:
    cfg = config(tmp_path)
    ctx = WebContext(
        config=cfg,
        store=store,
        reader_location=store_location(cfg.store),
        signer=TokenSigner.generate(),
        clock=ManualClock(T0 + 100),
    )
    return TestClient(create_app(ctx))


def key(store: CentralStore, partner: str, *scopes: Scope) -> dict[str, str]:
    """Authorization headers with a new key of `partner`'s."""
    with store.transaction() as session:
        issued = issue_key(session, partner, scopes or ALL, T0)
    return {"Authorization": f"Bearer {issued.text}"}


def rows(*numbers: int, **changes: Any) -> list[dict[str, Any]]:
    return [announcement(n, **changes).model_dump(mode="json") for n in numbers]


def parcel_count(store: CentralStore) -> dict[str, int]:
    with store.transaction() as session:
        return session.parcel_state_counts()


def test_a_call_without_a_live_key_is_401_and_without_its_scope_403(
    client: TestClient, store: CentralStore
) -> None:
    assert client.get("/api/partner/parcels").status_code == 401
    good = key(store, "acme", Scope.PARCELS_READ)
    token = good["Authorization"].removeprefix("Bearer ")
    wrong = {"Authorization": f"Bearer {token[:-4]}AAAA"}
    for headers in (wrong, {"Authorization": "Bearer lnk_nope_nope"}, {"Authorization": "x"}):
        answer = client.get("/api/partner/parcels", headers=headers)
        assert answer.status_code == 401, headers
        assert answer.headers["www-authenticate"] == "Bearer"
    assert client.get("/api/partner/parcels", headers=good).status_code == 200
    refused = client.post("/api/partner/manifests", headers=good, json={"parcels": rows(1)})
    assert refused.status_code == 403
    assert "parcels:write" in refused.json()["detail"]
    assert client.get("/api/partner/webhooks", headers=good).status_code == 403
    with store.transaction() as session:
        revoke_key(session, token.split("_")[1], T0 + 1)
    assert client.get("/api/partner/parcels", headers=good).status_code == 401
    assert parcel_count(store) == {}  # nothing was announced by any of it


def test_a_manifest_with_bad_rows_lists_every_one_and_announces_nothing(
    client: TestClient, store: CentralStore
) -> None:
    headers = key(store, "acme")
    sent = rows(1, 2, 3, 4)
    sent[1]["weight_kg"] = -1
    sent[2]["consumer_email"] = "not an e-mail"
    sent[2]["dest_lat"] = 123
    sent[3]["label"] = sent[0]["label"]  # twice in one manifest
    answer = client.post("/api/partner/manifests", headers=headers, json={"parcels": sent})
    assert answer.status_code == 422
    errors = answer.json()["errors"]
    assert [(e["index"], e["row"], e["field"]) for e in errors] == [
        (1, 2, "weight_kg"),
        (2, 3, "dest_lat"),
        (2, 3, "consumer_email"),
        (3, 4, "label"),
    ]
    assert "already on row 1" in errors[3]["message"]
    assert "nothing was announced" in answer.json()["detail"]
    assert parcel_count(store) == {}


def test_a_manifest_announces_parcels_the_partner_then_owns(
    client: TestClient, store: CentralStore
) -> None:
    headers = key(store, "acme")
    first = client.post("/api/partner/manifests", headers=headers, json={"parcels": rows(1, 2)})
    assert first.status_code == 200
    assert first.json() == {"announced": [label(1), label(2)], "already_known": []}
    again = client.post("/api/partner/manifests", headers=headers, json={"parcels": rows(2, 3)})
    assert again.json() == {"announced": [label(3)], "already_known": [label(2)]}
    with store.transaction() as session:
        owners = {session.get_parcel(label(n)).owner for n in (1, 2, 3)}  # type: ignore[union-attr]
    assert owners == {"acme"}
    assert parcel_count(store) == {"announced": 3}


def test_a_manifest_is_logged_once_with_its_counts_and_the_partner(
    client: TestClient, store: CentralStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="central.parcels.imports")
    headers = key(store, "acme")
    client.post("/api/partner/manifests", headers=headers, json={"parcels": rows(1, 2)})
    client.post("/api/partner/manifests", headers=headers, json={"parcels": rows(2, 3)})
    lines = [r.getMessage() for r in caplog.records if r.name == "central.parcels.imports"]
    timer = "placed by central's timer (service.replace_after_s)"
    assert lines == [
        f"manifest from partner acme (the partner API): 2 new, 0 already known, {timer}",
        f"manifest from partner acme (the partner API): 1 new, 1 already known, {timer}",
    ]


def test_a_partner_reads_its_own_parcels_never_anothers_nor_contact_details(
    client: TestClient, store: CentralStore
) -> None:
    acme, bolt = key(store, "acme"), key(store, "bolt")
    client.post("/api/partner/manifests", headers=acme, json={"parcels": rows(1, 2)})
    client.post("/api/partner/manifests", headers=bolt, json={"parcels": rows(3)})
    with store.transaction() as session:
        record = session.get_parcel(label(1))
        assert record is not None
        take_step(
            session,
            record,
            ParcelStep.ASSIGN,
            at=T0 + 200,
            source="central",
            now=T0 + 200,
            site="L0001",
        )
    texts: list[str] = []
    mine = client.get(f"/api/partner/parcels/{label(1)}", headers=acme)
    assert mine.status_code == 200
    assert (mine.json()["state"], mine.json()["site"]) == ("assigned", "L0001")
    assert [s["step"] for s in mine.json()["steps"]] == ["announce", "assign"]
    texts.append(mine.text)
    theirs = client.get(f"/api/partner/parcels/{label(3)}", headers=acme)
    nobody = client.get(f"/api/partner/parcels/{label(9)}", headers=acme)
    assert theirs.status_code == nobody.status_code == 404  # the same: no existence leak
    assert theirs.json()["detail"].replace(label(3), "") == nobody.json()["detail"].replace(
        label(9), ""
    )
    listing = client.get("/api/partner/parcels", headers=acme)
    assert [p["label"] for p in listing.json()["parcels"]] == [label(2), label(1)]
    texts.append(listing.text)
    assigned = client.get("/api/partner/parcels", headers=acme, params={"state": "assigned"})
    assert [p["label"] for p in assigned.json()["parcels"]] == [label(1)]
    later = client.get(
        "/api/partner/parcels", headers=acme, params={"since": "2027-01-15T08:01:50+00:00"}
    )
    assert [p["label"] for p in later.json()["parcels"]] == [label(1)]  # changed at T0 + 200
    texts.append(later.text)
    bolt_view = client.get(f"/api/partner/parcels/{label(3)}", headers=bolt)
    assert bolt_view.status_code == 200
    texts.append(bolt_view.text)
    for text in texts:
        for value in (*CONTACT, "9123", "wei.ling", "520101"):
            assert value not in text


def test_a_partner_pages_through_parcels_that_changed_at_the_same_moment(
    client: TestClient, store: CentralStore
) -> None:
    # One manifest announces every parcel in it at one moment (as a placement wave places
    # many): paging by time alone would hand back the same first page for ever.
    acme = key(store, "acme")
    client.post("/api/partner/manifests", headers=acme, json={"parcels": rows(1, 2, 3, 4, 5)})
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    for _ in range(5):
        page = client.get("/api/partner/parcels", headers=acme, params=params).json()
        seen += [p["label"] for p in page["parcels"]]
        if page["next"] is None:
            break
        params = {"limit": 2, "after": page["next"]}
    assert seen == sorted(label(n) for n in (1, 2, 3, 4, 5))  # each once, none left out
    bad = client.get("/api/partner/parcels", headers=acme, params={"after": "yesterday"})
    assert bad.status_code == 422 and "after" in bad.text


def test_webhook_endpoints_are_managed_by_their_own_partner_only(
    client: TestClient, store: CentralStore
) -> None:
    acme, bolt = key(store, "acme"), key(store, "bolt")
    made = client.post(
        "/api/partner/webhooks",
        headers=acme,
        json={"url": "https://hooks.acme.example/lockernet", "events": ["parcel.collected"]},
    )
    assert made.status_code == 201
    endpoint = made.json()
    assert endpoint["secret"].startswith("whsec_")
    Webhook(endpoint["secret"])  # a secret the reference implementation takes
    listed = client.get("/api/partner/webhooks", headers=acme).json()
    assert [(e["id"], e["events"]) for e in listed] == [(endpoint["id"], ["parcel.collected"])]
    assert "secret" not in listed[0]
    assert client.get("/api/partner/webhooks", headers=bolt).json() == []
    bad = client.post("/api/partner/webhooks", headers=acme, json={"url": "ftp://x"})
    assert bad.status_code == 422 and "http" in bad.json()["detail"]
    plain = client.post(
        "/api/partner/webhooks", headers=acme, json={"url": "http://hooks.acme.example/x"}
    )
    assert plain.status_code == 422 and "use https://" in plain.json()["detail"]
    assert "read and replayed" in plain.json()["detail"]
    unknown = client.post(
        "/api/partner/webhooks", headers=acme, json={"url": "https://a.example", "events": ["x"]}
    )
    assert unknown.status_code == 422 and "unknown event type 'x'" in unknown.json()["detail"]
    assert client.delete(f"/api/partner/webhooks/{endpoint['id']}", headers=bolt).status_code == 404
    assert client.delete(f"/api/partner/webhooks/{endpoint['id']}", headers=acme).status_code == 204
    assert client.get("/api/partner/webhooks", headers=acme).json() == []
