"""The operator API over a real SQLite store: what each role may do, the network and slot
views, alarms, parcels, remote opens with their audit log and the mass-open guard, and bad
input that changes nothing."""

from __future__ import annotations

import base64
import json
import time
import tracemalloc
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from itsdangerous import TimestampSigner

from central.operator.remote import (
    REMOTE_OPEN_LIMIT,
    REMOTE_OPEN_WINDOW_S,
    RemoteOpenRefused,
    remote_open,
)
from central.sites.alarms import AlarmKind, raise_alarm
from central.sites.commands import CommandSender
from central.store import CentralStore
from central.store.records import TaskKind
from central.web.auth import LoginThrottle, Role, User
from central.web.context import WebContext
from protocols.clock import ManualClock
from protocols.commands import DOOR_COMMAND_FRESH_S
from protocols.topics import SiteChannel, Topics
from tests.central.central_rig import label
from tests.web.conftest import CONTACT, LOGINS, PARCEL, T0

Client = Callable[[Role | None], TestClient]


def queued_commands(store: CentralStore) -> list[dict[str, object]]:
    with store.transaction() as session:
        tasks = session.open_tasks(TaskKind.SEND_COMMAND.value)
    return [json.loads(t.payload)["body"] | {"site": t.site} for t in tasks]


def audit_rows(store: CentralStore) -> list[tuple[str, str, str | None, str]]:
    with store.transaction() as session:
        return [(e.actor, e.action, e.target, e.outcome) for e in session.audit_entries()]


def test_nobody_signed_in_gets_401_and_a_wrong_password_signs_nobody_in(client: Client) -> None:
    anonymous = client(None)
    refused = anonymous.get("/api/sites")
    assert refused.status_code == 401
    assert "POST /api/login" in refused.json()["detail"]
    wrong = anonymous.post("/api/login", json={"name": "vera", "password": "not-her-password"})
    unknown = anonymous.post("/api/login", json={"name": "nobody", "password": "whatever-pw"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "wrong name or password"}
    assert anonymous.get("/api/me").status_code == 401


def test_each_role_does_what_it_may_and_is_told_which_role_it_lacks(
    client: Client, web_store: CentralStore
) -> None:
    with web_store.transaction() as session:
        raise_alarm(session, "L0001", AlarmKind.DOOR_FORCED, T0, ref="B", source="site")
        alarm_id = next(a.id for a in session.list_alarms() if a.kind == "door_forced")
    viewer, technician, operator = (
        client(Role.VIEWER),
        client(Role.TECHNICIAN),
        client(Role.OPERATOR),
    )
    assert viewer.get("/api/me").json() == {"name": "vera", "role": "viewer"}
    for path in ("/api/sites", "/api/sites/L0001/slots", "/api/alarms", "/api/audit"):
        assert viewer.get(path).status_code == 200, path

    opening = {"reason": "stuck door reported by phone"}
    refused = viewer.post("/api/sites/L0001/slots/B/open", json=opening)
    assert refused.status_code == 403
    assert refused.json()["detail"] == "this needs the technician role or above; vera is viewer"
    assert (
        viewer.post(
            "/api/sites/L0001/slots/B/service", json={"in_service": False, "reason": "x"}
        ).status_code
        == 403
    )
    assert technician.post("/api/sites/L0001/slots/B/open", json=opening).status_code == 200

    ack = {"note": "checked the camera"}
    refused = technician.post(f"/api/alarms/{alarm_id}/ack", json=ack)
    assert refused.status_code == 403
    assert "operator role" in refused.json()["detail"]
    acked = operator.post(f"/api/alarms/{alarm_id}/ack", json=ack)
    assert acked.status_code == 200
    assert acked.json()["acked_by"] == "olivia"
    # A forced door ends when acknowledged: it is no longer in the open list.
    assert [a["kind"] for a in viewer.get("/api/alarms").json()] == ["site_offline"]
    everything = viewer.get("/api/alarms?include_cleared=true").json()
    assert [a["kind"] for a in everything] == ["site_offline", "door_forced"]
    again = operator.post(f"/api/alarms/{alarm_id}/ack", json=ack)
    assert again.status_code == 400
    assert "already acknowledged by olivia" in again.json()["detail"]
    assert audit_rows(web_store) == [
        ("olivia", "ack_alarm", f"alarm:{alarm_id}", "done"),
        ("tarik", "open_slot", "B", "queued"),
    ]


def test_a_disabled_login_is_signed_out_at_its_next_request(
    client: Client, web_store: CentralStore
) -> None:
    viewer = client(Role.VIEWER)
    assert viewer.get("/api/sites").status_code == 200
    with web_store.transaction() as session:
        assert session.disable_user("vera", T0)
    assert viewer.get("/api/sites").status_code == 401
    name, password = LOGINS[Role.VIEWER]
    assert viewer.post("/api/login", json={"name": name, "password": password}).status_code == 401
    assert viewer.post("/api/logout").json() == {"signed_out": True}


def test_sites_are_listed_with_occupancy_filtered_and_sorted(client: Client) -> None:
    viewer = client(Role.VIEWER)
    everything = viewer.get("/api/sites").json()
    assert everything["network"] == {
        "sites": 3,
        "online": 1,
        "offline": 1,
        "never_heard": 1,
        "full": 0,
        "open_alarms": everything["network"]["open_alarms"],
        "compartments": 8,
        "occupied": 1,
    }
    l0001 = next(s for s in everything["sites"] if s["id"] == "L0001")
    assert l0001 | {"last_heard_at": None} == {
        "id": "L0001",
        "name": "Tampines Hub Locker",
        "kind": "locker",
        "area": "Tampines",
        "online": True,
        "last_heard_at": None,
        "slots": 5,
        "occupied": 1,
        "free": 3,
        "reserved": 0,
        "out_of_service": 1,
        "shelf_capacity": None,
        "shelf_used": None,
        "full": False,
        "faults": 0,
        "open_alarms": l0001["open_alarms"],
    }
    ids = lambda query: [s["id"] for s in viewer.get(f"/api/sites{query}").json()["sites"]]  # noqa: E731
    assert ids("") == ["C0001", "L0001", "L0002"]
    assert ids("?state=offline") == ["L0002"]
    assert ids("?state=online") == ["L0001"]
    assert ids("?kind=counter") == ["C0001"]
    assert ids("?q=tampines%20east") == ["L0002"]
    assert ids("?sort=problems")[0] == "L0002"  # the offline one first
    bad = viewer.get("/api/sites?state=sideways")
    assert bad.status_code == 422
    assert "online" in bad.text and "state" in bad.text
    assert viewer.get("/api/sites/L0002").json()["online"] is False
    unknown = viewer.get("/api/sites/L9999")
    assert unknown.status_code == 404
    assert "site L9999 is not in the registry" in unknown.json()["detail"]


def test_a_sites_slots_show_state_contents_and_reservation(client: Client) -> None:
    slots = {s["id"]: s for s in client(Role.VIEWER).get("/api/sites/L0001/slots").json()}
    assert sorted(slots) == ["A", "B", "C", "D", "E"]
    assert slots["A"]["state"] == "occupied"
    assert slots["A"]["parcel"] == PARCEL
    assert slots["B"] | {"updated_at": 0} == {
        "id": "B",
        "size": "S",
        "state": "free",
        "door": "unknown",
        "occupied": None,
        "parcel": None,
        "reserved_for": None,
        "fault": None,
        "reservation": None,
        "updated_at": 0,
    }
    assert slots["E"]["state"] == "out_of_service"


def test_a_remote_open_is_audited_and_queued_as_a_signed_command(
    client: Client, web_store: CentralStore
) -> None:
    answer = client(Role.TECHNICIAN).post(
        "/api/sites/L0001/slots/B/open", json={"reason": "consumer locked out, ticket 88"}
    )
    assert answer.status_code == 200, answer.text
    entry = answer.json()
    assert entry["actor"] == "tarik"
    assert entry["role"] == "technician"
    assert entry["outcome"] == "queued"
    assert entry["command_id"].startswith("task:")
    assert queued_commands(web_store) == [
        {
            "type": "open_slot",
            "slot": "B",
            "reason": "consumer locked out, ticket 88",
            "site": "L0001",
        }
    ]
    service = client(Role.TECHNICIAN).post(
        "/api/sites/L0001/slots/C/service", json={"in_service": False, "reason": "hinge broken"}
    )
    assert service.status_code == 200
    assert queued_commands(web_store)[1] == {
        "type": "set_slot_service",
        "slot": "C",
        "in_service": False,
        "reason": "hinge broken",
        "site": "L0001",
    }
    listed = client(Role.VIEWER).get("/api/audit").json()
    assert [(e["action"], e["target"], e["reason"]) for e in listed] == [
        ("set_slot_service:out", "C", "hinge broken"),
        ("open_slot", "B", "consumer locked out, ticket 88"),
    ]


def test_central_refuses_the_remote_open_past_the_limit_audits_it_and_alarms(
    client: Client, web_store: CentralStore, web_clock: object
) -> None:
    technician = client(Role.TECHNICIAN)
    for n in range(REMOTE_OPEN_LIMIT):
        opened = technician.post(
            f"/api/sites/L0001/slots/{'BCD'[n]}/open", json={"reason": f"n{n}"}
        )
        assert opened.status_code == 200, opened.text
    refused = technician.post("/api/sites/L0001/slots/B/open", json={"reason": "one more"})
    assert refused.status_code == 409
    assert f"the limit is {REMOTE_OPEN_LIMIT}" in refused.json()["detail"]
    # Another site has its own count.
    assert technician.post("/api/sites/L0002/slots/F/open", json={"reason": "x"}).status_code == 200
    assert [c["slot"] for c in queued_commands(web_store)] == ["B", "C", "D", "F"]
    assert audit_rows(web_store)[1] == ("tarik", "open_slot", "B", "refused")
    with web_store.transaction() as session:
        alarms = [(a.site, a.kind) for a in session.list_alarms()]
    assert ("L0001", "remote_open_refused") in alarms


def test_remote_opens_spread_over_sites_meet_the_networks_own_limit(
    web_store: CentralStore, web_clock: ManualClock
) -> None:
    # Three opens a site, at every site, would open hundreds of doors in ten minutes from
    # one stolen login: the network as a whole has a limit too.
    technician = User("tarik", Role.TECHNICIAN)
    asked = [("L0001", "B"), ("L0001", "C"), ("L0002", "F")]
    for site, slot in asked:
        remote_open(
            web_store,
            actor=technician,
            site=site,
            slot=slot,
            reason="x",
            now=web_clock.now(),
            network_limit=3,
        )
    with pytest.raises(RemoteOpenRefused, match="the network has had 3 remote opens"):
        remote_open(
            web_store,
            actor=technician,
            site="L0002",
            slot="G",
            reason="one more",
            now=web_clock.now(),
            network_limit=3,
        )
    assert [c["slot"] for c in queued_commands(web_store)] == ["B", "C", "F"]
    assert audit_rows(web_store)[0] == ("tarik", "open_slot", "G", "refused")
    later = web_clock.now() + REMOTE_OPEN_WINDOW_S + 1
    remote_open(  # the sentinel: once the window has passed, opens go out again
        web_store,
        actor=technician,
        site="L0002",
        slot="G",
        reason="x",
        now=later,
        network_limit=3,
    )
    assert [c["slot"] for c in queued_commands(web_store)] == ["B", "C", "F", "G"]


def test_bad_input_is_named_and_changes_nothing(client: Client, web_store: CentralStore) -> None:
    technician = client(Role.TECHNICIAN)
    cases = [
        (
            "/api/sites/L9999/slots/B/open",
            {"reason": "x"},
            404,
            "site L9999 is not in the registry",
        ),
        (
            "/api/sites/L0001/slots/B99/open",
            {"reason": "x"},
            404,
            "slot 'B99' is not at site L0001",
        ),
        ("/api/sites/C0001/slots/A/open", {"reason": "x"}, 400, "site C0001 is a staffed counter"),
        ("/api/sites/L0001/slots/B/open", {"reason": "   "}, 400, "reason: say why"),
        ("/api/sites/L0001/slots/B/open", {}, 422, "reason"),
        ("/api/sites/L0001/slots/B/open", {"reason": "x", "force": True}, 422, "force"),
        ("/api/sites/bad%20id/slots/B/open", {"reason": "x"}, 404, "site bad id is not"),
        ("/api/alarms/424242/ack", {"note": ""}, 403, "operator"),
    ]
    for path, body, code, words in cases:
        answer = technician.post(path, json=body)
        assert answer.status_code == code, (path, answer.text)
        assert words in answer.text, (path, answer.text)
    unknown_alarm = client(Role.OPERATOR).post("/api/alarms/424242/ack", json={"note": ""})
    assert unknown_alarm.status_code == 404
    assert "no alarm with id 424242" in unknown_alarm.json()["detail"]
    assert queued_commands(web_store) == []
    assert audit_rows(web_store) == []


def test_a_parcels_timeline_and_the_search_never_show_the_consumers_contact(
    client: Client,
) -> None:
    viewer = client(Role.VIEWER)
    answer = viewer.get(f"/api/parcels/{PARCEL.lower()}")
    assert answer.status_code == 200
    parcel = answer.json()
    assert (parcel["label"], parcel["state"], parcel["site"], parcel["slot"]) == (
        PARCEL,
        "ready_for_pickup",
        "L0001",
        "A",
    )
    assert [s["step"] for s in parcel["steps"]] == [
        "announce",
        "assign",
        "hand_to_courier",
        "deposit",
        "notify",
    ]
    for secret in CONTACT:
        assert secret not in answer.text
    found = viewer.get("/api/parcels?q=RR&limit=3").json()
    assert len(found) == 3
    assert found[0]["label"] == PARCEL
    assert [p["label"] for p in viewer.get("/api/parcels?state=ready_for_pickup").json()] == [
        PARCEL
    ]
    assert viewer.get("/api/parcels?site=L0002").json() == []
    assert viewer.get("/api/parcels?q=RR%25").status_code == 400
    missing = viewer.get(f"/api/parcels/{label(999)}")
    assert missing.status_code == 404
    assert "not known to central" in missing.json()["detail"]
    assert viewer.get("/api/parcels/not-a-label").status_code == 404


def test_diagnostics_without_a_link_to_the_sites_say_so(client: Client) -> None:
    technician = client(Role.TECHNICIAN)
    answer = technician.get("/api/sites/L0001/diagnostics")
    assert answer.status_code == 503
    assert "no link to the sites' broker" in answer.json()["detail"]
    assert technician.get("/api/sites/L9999/diagnostics").status_code == 404
    assert client(Role.VIEWER).get("/api/sites/L0001/diagnostics").status_code == 403


def test_operators_issue_and_revoke_badges_and_others_only_read_them(client: Client) -> None:
    operator, technician = client(Role.OPERATOR), client(Role.TECHNICIAN)
    asked = {"courier": "K1", "partner": "post", "days": 30}
    assert technician.post("/api/badges", json=asked).status_code == 403
    issued = operator.post("/api/badges", json=asked)
    assert issued.status_code == 200, issued.text
    badge = issued.json()["badge"]
    assert issued.json()["text"].startswith("LNB:")
    assert (badge["courier"], badge["partner"], badge["issued_by"]) == ("K1", "post", "olivia")
    assert badge["valid_until"] - badge["valid_from"] == 30 * 86400
    listed = client(Role.VIEWER).get("/api/badges").json()
    assert [b["badge_id"] for b in listed] == [badge["badge_id"]]
    assert technician.post(f"/api/badges/{badge['badge_id']}/revoke").status_code == 403
    revoked = operator.post(f"/api/badges/{badge['badge_id']}/revoke")
    assert revoked.status_code == 200
    assert revoked.json()["revoked_by"] == "olivia"
    again = operator.post(f"/api/badges/{badge['badge_id']}/revoke")
    assert again.status_code == 400
    assert "revoked already" in again.json()["detail"]
    assert operator.post("/api/badges/nosuchbadge/revoke").status_code == 404
    assert client(Role.VIEWER).get("/api/badges").json() == []
    assert len(client(Role.VIEWER).get("/api/badges?include_revoked=true").json()) == 1
    assert operator.post("/api/badges", json=asked | {"days": 0}).status_code == 422


def test_a_remote_open_that_waited_past_its_life_is_never_sent(
    client: Client, web_store: CentralStore, web_ctx: WebContext
) -> None:
    technician = client(Role.TECHNICIAN)
    asked_at = web_ctx.clock.now()
    for slot in "BC":
        assert technician.post(
            f"/api/sites/L0001/slots/{slot}/open", json={"reason": "x"}
        ).is_success
    sent: list[str] = []
    topics = Topics("lockernet-test/web/v1")
    sender = CommandSender(
        web_store,
        web_ctx.signer,
        topics,
        web_ctx.clock,
        lambda topic, payload, expiry, broker: sent.append(topic),
        3600,
    )
    with web_store.transaction() as session:
        late, in_time = session.open_tasks(TaskKind.SEND_COMMAND.value)
    sender.run_tasks([late], asked_at + DOOR_COMMAND_FRESH_S + 1)
    sender.run_tasks([in_time], asked_at + 1)  # the sentinel: this one is sent
    assert sent == [topics.site("L0001", SiteChannel.COMMANDS)]
    with web_store.transaction() as session:
        assert session.open_tasks(TaskKind.SEND_COMMAND.value) == []


def test_guessing_a_password_is_refused_after_five_tries_even_with_the_right_one(
    client: Client,
) -> None:
    anonymous = client(None)
    name, password = LOGINS[Role.VIEWER]
    for _ in range(5):
        wrong = anonymous.post("/api/login", json={"name": name, "password": "guess-guess"})
        assert wrong.status_code == 401
    refused = anonymous.post("/api/login", json={"name": name, "password": password})
    assert refused.status_code == 429
    assert "too many failed logins" in refused.json()["detail"]
    assert int(refused.headers["Retry-After"]) > 800
    assert anonymous.get("/api/me").status_code == 401  # nobody signed in
    # Another name is not held back by this one's guesses.
    other, other_password = LOGINS[Role.OPERATOR]
    signed_in = anonymous.post("/api/login", json={"name": other, "password": other_password})
    assert signed_in.status_code == 200


def test_guesses_from_one_address_do_not_lock_the_login_out_everywhere(
    web_app: FastAPI,
) -> None:
    # Five wrong tries a quarter hour from anyone would otherwise keep an operator out for
    # good: the guesser's address is held back, the login's owner elsewhere is not.
    name, password = LOGINS[Role.VIEWER]
    guesser = TestClient(web_app, client=("203.0.113.66", 40000))
    for _ in range(5):
        assert (
            guesser.post("/api/login", json={"name": name, "password": "guess"}).status_code == 401
        )
    assert guesser.post("/api/login", json={"name": name, "password": password}).status_code == 429
    owner = TestClient(web_app, client=("198.51.100.7", 40001))
    assert owner.post("/api/login", json={"name": name, "password": password}).status_code == 200
    # Many addresses guessing one name together still end up refused, the owner too.
    for n in range(2, 12):
        spread = TestClient(web_app, client=(f"203.0.113.{n}", 40000))
        for _ in range(5):
            spread.post("/api/login", json={"name": name, "password": "guess"})
    late = TestClient(web_app, client=("198.51.100.8", 40002))
    assert late.post("/api/login", json={"name": name, "password": password}).status_code == 429


def test_made_up_names_of_any_length_are_not_kept_whole() -> None:
    # The console's form takes a name of any length; each failed one is remembered.
    throttle = LoginThrottle()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(20):
            throttle.failed(f"{n}" + "x" * 1_000_000, "203.0.113.66")
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < 1_000_000  # 20 MB of names came in


def test_a_session_kept_in_use_still_ends_its_max_age_after_the_login(
    client: Client, web_ctx: WebContext
) -> None:
    # The cookie is signed again with every answer, so a stolen one used now and then
    # would stay good for ever: the login's own time bounds it.
    max_age = web_ctx.config.api.session_max_age_s
    secret = web_ctx.config.api.session_secret_file.read_text().strip()

    def cookie(since: float) -> str:
        data = json.dumps({"user": LOGINS[Role.OPERATOR][0], "since": int(since)})
        return TimestampSigner(secret).sign(base64.b64encode(data.encode())).decode()

    stale = client(None)
    stale.cookies.set("lockernet_session", cookie(time.time() - max_age - 60))
    assert stale.get("/api/me").status_code == 401
    fresh = client(None)
    fresh.cookies.set("lockernet_session", cookie(time.time() - 60))
    assert fresh.get("/api/me").json()["name"] == LOGINS[Role.OPERATOR][0]  # the sentinel
