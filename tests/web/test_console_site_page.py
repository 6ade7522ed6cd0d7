"""The console's site page without a browser: when the site was last heard, a collection
point's shelf instead of a slot grid, and the operators' remote commands with what the site
answered (also in /api/audit)."""

from __future__ import annotations

import dataclasses
import html
import re
import time
from collections.abc import Callable

from fastapi.testclient import TestClient

from central.sites import liveness
from central.sites.commands import CommandSender, record_reply
from central.store import CentralStore
from central.store.records import TaskKind
from central.web.auth import Role
from central.web.context import WebContext
from protocols.localtime import timestamp
from protocols.messages import Command, Reply, ReplyReason, SignedCommand, decode
from protocols.topics import Topics
from tests.web.conftest import T0
from tests.web.test_console_pages import csrf_of

Client = Callable[[Role | None], TestClient]


def page_text(client: TestClient, path: str) -> str:
    answer = client.get(path)
    assert answer.status_code == 200, answer.text
    return html.unescape(re.sub(r"\s+", " ", answer.text))


def words(client: TestClient, path: str) -> str:
    """The page's text without its tags."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", page_text(client, path)))


def test_a_site_page_says_when_the_site_was_last_heard(
    client: Client, web_store: CentralStore
) -> None:
    viewer = client(Role.VIEWER)
    assert "last heard never" in page_text(viewer, "/console/sites/L0001")
    with web_store.transaction() as session:
        liveness.heard(session, "L0001", T0 + 5000)
    shown = page_text(viewer, "/console/sites/L0001")
    assert f"last heard {timestamp(T0 + 5000)}" in shown
    assert "last status" not in shown


def test_a_collection_point_shows_its_shelf_not_a_missing_slot_grid(
    client: Client, web_store: CentralStore
) -> None:
    viewer = client(Role.VIEWER)
    shown = words(viewer, "/console/sites/C0001")
    assert "A staffed collection point: no compartments, one shelf." in shown
    assert "Shelf 0 of 3 places used, 3 free." in shown
    assert "has not sent its slots yet" not in shown
    with web_store.transaction() as session:
        record = session.get_site("C0001")
        assert record is not None
        session.save_site(dataclasses.replace(record, shelf_used=2))
    assert "Shelf 2 of 3 places used, 1 free." in words(viewer, "/console/sites/C0001")
    # A locker whose slots never came still says so (the sentinel: the words exist).
    with web_store.transaction() as session:
        session.replace_slots("L0002", [])
    assert "The site has not sent its slots yet." in page_text(viewer, "/console/sites/L0002")


def test_the_sites_answer_to_a_remote_command_shows_on_its_page_and_in_the_audit_api(
    client: Client, web_store: CentralStore, web_ctx: WebContext
) -> None:
    technician = client(Role.TECHNICIAN)
    token = csrf_of(technician)
    for slot, path, data in (
        ("C", "open", {"reason": "courier locked out"}),
        ("D", "service", {"reason": "hinge broken", "in_service": "false"}),
    ):
        queued = technician.post(
            f"/console/sites/L0001/slots/{slot}/{path}",
            data={"csrf": token, **data},
            follow_redirects=True,
        )
        assert "queued for the site (task:" in html.unescape(queued.text)
    shown = page_text(technician, "/console/sites/L0001")
    assert shown.count('<td class="outcome-queued">queued</td>') == 2

    sent: list[Command] = []

    def publish(topic: str, payload: bytes, expiry: int, broker: str | None) -> None:
        sent.append(Command.model_validate_json(decode(SignedCommand, payload).command))

    sender = CommandSender(
        web_store, web_ctx.signer, Topics("lockernet-test/web/v1"), web_ctx.clock, publish, 3600
    )
    with web_store.transaction() as session:
        tasks = session.open_tasks(TaskKind.SEND_COMMAND.value)
    sender.run_tasks(tasks, web_ctx.clock.now())
    opened, disabled = sorted(sent, key=lambda c: c.body.type)
    assert "sent" in page_text(technician, "/console/sites/L0001")
    with web_store.transaction() as session:
        record_reply(
            session,
            Reply(
                site="L0001",
                command_id=disabled.id,
                at=time.time(),
                ok=False,
                reason=ReplyReason.SLOT_UNAVAILABLE,
                detail="a slot that is open_for_deposit cannot take_out_of_service",
            ),
            web_ctx.clock.now(),
            "test",
        )
        reply = Reply(site="L0001", command_id=opened.id, at=time.time(), ok=True)
        record_reply(session, reply, web_ctx.clock.now(), "test")
    shown = page_text(technician, "/console/sites/L0001")
    assert (
        '<td class="outcome-refused">refused by site: slot_unavailable a slot that is '
        "open_for_deposit cannot take_out_of_service</td>"
    ) in shown
    assert '<td class="outcome-done">done</td>' in shown
    audit = {e["target"]: e for e in client(Role.VIEWER).get("/api/audit").json()}
    assert audit["C"]["outcome"] == "done" and audit["C"]["command_id"] == opened.id
    assert audit["D"]["outcome"].startswith("refused by site: slot_unavailable")
    assert audit["D"]["command_id"] == disabled.id
