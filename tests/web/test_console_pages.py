"""The console's pages without a browser: CSRF on every form, roles checked on every POST
whatever the page showed, the login redirect staying on this console, and a site's
diagnostics asked over MQTT by a running central and shown as a page."""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from central.broker import PrivateBroker
from central.broker.launcher import free_port
from central.service.service import CentralService
from central.sites.alarms import AlarmKind, raise_alarm
from central.store import CentralStore
from central.store.open import open_reader
from central.store.queries.users import UserRecord
from central.store.records import TaskKind
from central.web.auth import Role, hash_password
from protocols.localtime import timestamp
from tests.central.central_rig import Site, central_config
from tests.central.conftest import clock, config, make_site, network, signer, start_central
from tests.eventually import eventually
from tests.web.conftest import PARCEL, T0

Client = Callable[[Role | None], TestClient]
REPORT_AT = 1_796_047_729.86
# A site agent's diagnostic report (edge/host/diagnostics.py's shape), trimmed.
REPORT = {
    "site": "L0001",
    "kind": "locker",
    "agent_version": "9.9",
    "at": REPORT_AT,
    "boards": [{"board": 0, "present": False, "reply_ms": 3.2}],
    "slots": [],
    "link": {"connected": True, "last_error": None},
    "faults": [{"component": "board", "code": "no_reply", "ref": "0", "since": REPORT_AT - 600}],
}
# central's fixtures, for the one test that runs a whole central service.
__all__ = ["clock", "config", "make_site", "network", "signer", "start_central"]


def csrf_of(client: TestClient, path: str = "/console/") -> str:
    """The CSRF token the console put in a form of `path` for this session."""
    page = client.get(path)
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None, page.text
    return found.group(1)


def forced_alarm(store: CentralStore) -> int:
    with store.transaction() as session:
        raise_alarm(session, "L0001", AlarmKind.DOOR_FORCED, T0, ref="B")
        alarm = next(a for a in session.list_alarms() if a.kind == "door_forced")
    assert alarm.id is not None
    return alarm.id


def test_a_form_without_this_sessions_csrf_token_changes_nothing(
    client: Client, web_store: CentralStore, web_ctx
) -> None:
    alarm = forced_alarm(web_store)
    operator = client(Role.OPERATOR)
    other = client(Role.OPERATOR)  # another session: its token is not this one's
    for token in ("", "forged", csrf_of(other)):
        answer = operator.post(f"/console/alarms/{alarm}/ack", data={"csrf": token})
        assert answer.status_code == 403
        assert "the form is out of date or not this console's" in html.unescape(answer.text)
    with open_reader(web_ctx.reader_location) as reader:
        still = reader.view.get_alarm(alarm)
    assert still is not None and still.acked_at is None
    # With the session's own token it is done (the sentinel: the refusals were the token's).
    done = operator.post(
        f"/console/alarms/{alarm}/ack", data={"csrf": csrf_of(operator)}, follow_redirects=True
    )
    assert "acknowledged; closed" in done.text


def test_a_viewer_posting_a_remote_open_itself_is_refused_and_nothing_is_queued(
    client: Client, web_ctx
) -> None:
    viewer = client(Role.VIEWER)
    page = viewer.get("/console/sites/L0001")
    assert "open-slot" not in page.text  # no door buttons shown to a viewer
    answer = viewer.post(
        "/console/sites/L0001/slots/B/open",
        data={"csrf": csrf_of(viewer), "reason": "just looking"},
    )
    assert answer.status_code == 403
    assert "this needs the operator or technician role" in answer.text
    technician = client(Role.TECHNICIAN)
    sent = technician.post(
        "/console/sites/L0001/slots/C/open",
        data={"csrf": csrf_of(technician), "reason": "courier locked out"},
        follow_redirects=True,
    )
    assert "remote open of C queued for the site" in sent.text
    with open_reader(web_ctx.reader_location) as reader:
        entries = reader.view.audit_entries()
        tasks = reader.view.open_tasks(TaskKind.SEND_COMMAND)
    assert [(e.actor, e.target) for e in entries] == [("tarik", "C")]
    assert len([t for t in tasks if t.site == "L0001"]) == 1


def test_an_unknown_slot_or_an_empty_reason_is_said_and_nothing_is_queued(
    client: Client, web_ctx
) -> None:
    technician = client(Role.TECHNICIAN)
    token = csrf_of(technician)
    unknown = technician.post(
        "/console/sites/L0001/slots/Z9/open",
        data={"csrf": token, "reason": "x"},
        follow_redirects=True,
    )
    said = html.unescape(unknown.text)
    assert "slot Z9 was not opened" in said and "'Z9' is not at site L0001" in said
    blank = technician.post(
        "/console/sites/L0001/slots/B/open",
        data={"csrf": token, "reason": "   "},
        follow_redirects=True,
    )
    assert "say why it must open" in blank.text
    with open_reader(web_ctx.reader_location) as reader:
        assert reader.view.open_tasks(TaskKind.SEND_COMMAND) == []


def test_the_login_form_never_sends_the_browser_to_another_site(client: Client) -> None:
    anonymous = client(None)
    assert anonymous.get("/console/alarms", follow_redirects=False).headers["location"] == (
        "/console/login?next=%2Fconsole%2Falarms"
    )
    token = csrf_of(anonymous, "/console/login")
    answer = anonymous.post(
        "/console/login",
        data={
            "name": "vera",
            "password": "viewer-password-1",
            "csrf": token,
            "next": "https://evil.example/console/",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/"


def test_parcel_search_finds_by_prefix_and_shows_the_timeline(client: Client) -> None:
    viewer = client(Role.VIEWER)
    listed = viewer.get("/console/parcels", params={"q": "rr"})
    assert listed.text.count("/console/parcels?q=RR") == 5  # the five announced parcels
    one = viewer.get("/console/parcels", params={"q": PARCEL.lower()})
    assert f"{PARCEL}: ready_for_pickup" in one.text
    assert 'id="timeline"' in one.text and "<td>deposit</td>" in one.text
    assert "Tan Wei Ling" not in one.text  # never the consumer's contact
    bad = viewer.get("/console/parcels", params={"q": "<script>"})
    assert "is not a label or the start of one" in bad.text
    assert "<script>" not in bad.text  # shown escaped


@pytest.mark.broker
def test_a_sites_diagnostics_are_asked_over_mqtt_and_shown_as_a_page(
    tmp_path: Path,
    broker: PrivateBroker,
    topics,
    start_central: Callable[..., CentralService],
    make_site: Callable[..., Site],
) -> None:
    port = free_port()
    config = central_config(
        tmp_path,
        broker,
        topics,
        api={"listen": f"127.0.0.1:{port}", "session_secret_file": str(tmp_path / "s.key")},
    )
    central = start_central(config)
    with central.store.transaction() as session:
        session.add_user(UserRecord("tom", Role.TECHNICIAN.value, hash_password("tom-pw"), T0))
    site = make_site("L0001")

    def answer_diagnostics() -> None:
        command = eventually(lambda: site.commands_of("run_diagnostics"), 30, "RunDiagnostics")
        site.reply(command[0], result=REPORT)

    replier = threading.Thread(target=answer_diagnostics, daemon=True)
    replier.start()
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", follow_redirects=True) as web:
        form = web.get("/console/login")
        token = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert token is not None
        web.post(
            "/console/login",
            data={"name": "tom", "password": "tom-pw", "csrf": token.group(1), "next": "/console/"},
        )
        page = web.get("/console/sites/L0001/diagnostics", timeout=60)
    replier.join(5)
    assert page.status_code == 200, page.text
    shown = html.unescape(page.text)
    assert "The site answered at" in shown and "ok" in shown
    # The summary `lockernet diag` prints, then the whole report in words and local time.
    summary = re.search(r'<pre class="report-summary" id="report-summary">(.*?)</pre>', shown, re.S)
    assert summary is not None
    assert "site L0001 (locker), agent 9.9" in summary.group(1)
    assert f"{timestamp(REPORT_AT)} (the site's clock" in summary.group(1)
    leaves = dict(re.findall(r"<dt>([^<]*)</dt>\s*<dd>([^<]*)</dd>", shown))
    assert leaves["at"] == timestamp(REPORT_AT) and leaves["at"].endswith("SGT")
    assert leaves["since"] == timestamp(REPORT_AT - 600)
    assert leaves["connected"] == "yes" and leaves["present"] == "no"
    assert leaves["last_error"] == "—" and leaves["reply_ms"] == "3.2"
    assert str(REPORT_AT) not in shown  # no raw Unix seconds
    assert not re.search(r"<dd>(True|False|None)</dd>", shown)


def test_live_updates_need_a_login_and_end_when_it_is_disabled(
    client: Client, web_store: CentralStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from central.web.console import live

    assert client(None).get("/console/events").status_code == 401
    monkeypatch.setattr(live, "LOGIN_RECHECK_S", 0.2)
    viewer = client(Role.VIEWER)
    seen: list[str] = []
    with viewer.stream("GET", "/console/events?site=L0001") as stream:
        for line in stream.iter_lines():
            if line.startswith("data: "):
                seen.append(line)
                if len(seen) == 1:
                    with web_store.transaction() as session:
                        session.disable_user("vera", T0)
    # The stream ended by itself (the loop above finished) after its first, full event.
    assert len(seen) == 1
    assert '"L0001":"online"' in seen[0] and '"slots":{"A":' in seen[0]
