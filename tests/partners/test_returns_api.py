"""The partner API's returns through the real app: a partner issues its consumer's return
label (scope returns:write) and confirms the return back; another partner's is unknown."""

from __future__ import annotations

from fastapi.testclient import TestClient

from central.parcels.lifecycle import ParcelStep
from central.parcels.steps import take_step
from central.partners.keys import Scope
from central.store import CentralStore
from tests.edge.rig import labels
from tests.partners.test_partner_api import T0, client, key, store  # noqa: F401

RETURNS = "/api/partner/returns"


def test_a_partner_issues_a_return_label_and_confirms_it_back_once_collected(
    client: TestClient,  # noqa: F811
    store: CentralStore,  # noqa: F811
) -> None:
    (returned,) = labels(1, start=700)
    acme = key(store, "acme", Scope.RETURNS_WRITE)
    body = {"label": returned, "size": "L", "consumer_email": "wei.ling@example.sg"}
    assert client.post(RETURNS, json=body, headers=key(store, "acme")).status_code == 403
    answer = client.post(RETURNS, json=body, headers=acme)
    assert answer.status_code == 201, answer.text
    issued = answer.json()
    assert issued["text"].startswith("LNR:") and issued["site"] is None
    assert (issued["label"], issued["size"]) == (returned, "L")
    with store.transaction() as session:
        record = session.get_parcel(returned)
    assert record is not None
    assert (record.state, record.kind, record.owner) == ("return_issued", "return", "acme")
    assert record.contact is not None and record.contact.email == "wei.ling@example.sg"
    # The same label again is refused, naming it; nothing more is written.
    again = client.post(RETURNS, json=body, headers=acme)
    assert again.status_code == 400 and returned in again.json()["detail"]

    received = f"{RETURNS}/{returned}/received"
    bolt = key(store, "bolt", Scope.RETURNS_WRITE)
    assert client.post(received, headers=bolt).status_code == 404  # not bolt's
    early = client.post(received, headers=acme)
    assert early.status_code == 409 and "return_issued" in early.json()["detail"]
    with store.transaction() as session:
        record = session.get_parcel(returned)
        assert record is not None
        for step in (ParcelStep.DROP_OFF_RETURN, ParcelStep.COLLECT_RETURN):
            record = take_step(session, record, step, at=T0, source="test", now=T0)
    done = client.post(received, headers=acme)
    assert done.status_code == 200 and done.json()["state"] == "returned"


def test_a_return_for_an_unknown_site_or_size_is_refused_naming_it(
    client: TestClient,  # noqa: F811
    store: CentralStore,  # noqa: F811
) -> None:
    (returned,) = labels(1, start=710)
    acme = key(store, "acme", Scope.RETURNS_WRITE)
    answer = client.post(RETURNS, json={"label": returned, "size": "M", "site": "L9"}, headers=acme)
    assert answer.status_code == 400 and "site L9 is not known" in answer.json()["detail"]
    answer = client.post(RETURNS, json={"label": returned, "size": "XXL"}, headers=acme)
    assert answer.status_code == 422 and "size" in answer.text
    with store.transaction() as session:
        assert session.get_parcel(returned) is None and session.list_return_labels() == []
