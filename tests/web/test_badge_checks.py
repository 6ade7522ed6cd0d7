"""A badge only for a courier central knows, of the partner asked: POST /api/badges and the
console's badge form refuse an unknown courier, an unknown partner and a wrong pair, naming
it, and write nothing; a central whose config names no network file issues none."""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Callable

from fastapi.testclient import TestClient

from central.store import CentralStore
from central.web.app import create_app
from central.web.auth import Role
from central.web.context import WebContext
from tests.web.conftest import LOGINS
from tests.web.test_console_pages import csrf_of

Client = Callable[[Role | None], TestClient]
REFUSED = [
    ({"courier": "K9", "partner": "post"}, "courier 'K9' is not in the network file's couriers"),
    (
        {"courier": "K1", "partner": "acme"},
        "partner 'acme' is not in the network file (its partners: fast, post)",
    ),
    ({"courier": "K1", "partner": "fast"}, "courier K1 delivers for post, not fast"),
]


def badges_in(store: CentralStore) -> list[tuple[str, str]]:
    with store.transaction() as session:
        return [(b.courier, b.partner) for b in session.list_badges(include_revoked=True)]


def test_the_api_issues_badges_only_to_a_partners_own_couriers(
    client: Client, web_store: CentralStore
) -> None:
    operator = client(Role.OPERATOR)
    for asked, said in REFUSED:
        answer = operator.post("/api/badges", json=asked | {"days": 30})
        assert answer.status_code == 400, answer.text
        assert said in answer.json()["detail"]
    assert badges_in(web_store) == []
    issued = operator.post("/api/badges", json={"courier": "K2", "partner": "fast", "days": 3})
    assert issued.status_code == 200, issued.text  # the sentinel: a right pair is issued
    assert badges_in(web_store) == [("K2", "fast")]


def test_the_console_form_says_why_no_badge_was_issued(
    client: Client, web_store: CentralStore
) -> None:
    operator = client(Role.OPERATOR)
    token = csrf_of(operator, "/console/badges")
    for asked, said in REFUSED:
        answer = operator.post(
            "/console/badges",
            data={"csrf": token, "days": "30", **asked},
            follow_redirects=True,
        )
        shown = html.unescape(answer.text)
        assert f"no badge issued: {said}" in shown, shown
    assert badges_in(web_store) == []
    answer = operator.post(
        "/console/badges",
        data={"csrf": token, "days": "30", "courier": "K1", "partner": "post"},
        follow_redirects=True,
    )
    assert 'id="badge-text"' in answer.text
    assert badges_in(web_store) == [("K1", "post")]


def test_a_central_without_a_network_file_issues_no_badge(
    web_ctx: WebContext, web_store: CentralStore
) -> None:
    config = web_ctx.config.model_copy(
        update={"network": web_ctx.config.network.model_copy(update={"file": None})}
    )
    app = create_app(dataclasses.replace(web_ctx, config=config))
    with TestClient(app) as operator:
        name, password = LOGINS[Role.OPERATOR]
        assert operator.post("/api/login", json={"name": name, "password": password}).is_success
        answer = operator.post("/api/badges", json={"courier": "K1", "partner": "post", "days": 1})
    assert answer.status_code == 400
    assert "names no network file (network.file)" in answer.json()["detail"]
    assert badges_in(web_store) == []
