"""Tracking from overseas dispatch: cross-border milestones from feed files (`lockernet
parcels events`, the file drop central watches) and the partner API, recorded once each,
by event time, attributed to their source, and shown on `lockernet track`, the operator
API and the public tracking page, merged with central's own steps."""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from central.parcels.manifest import write_manifest
from central.parcels.milestone_events import alarm_site, record_milestone
from central.parcels.milestones import Milestone
from central.parcels.steps import announce
from central.partners.keys import Scope, add_partner, issue_key
from central.service.config import CentralConfig
from central.service.service import CentralService
from central.sites.ingest import Delivery, Ingest
from central.sites.network import Network, save_network
from central.sites.site_events import EventEffects
from central.store import SqliteStore
from central.store.open import open_store, store_location
from central.web.app import create_app
from central.web.context import WebContext
from protocols.cli import main
from protocols.clock import ManualClock
from protocols.localtime import timestamp
from protocols.messages import Event, encode
from protocols.tokens import TokenSigner
from protocols.topics import SiteChannel, Topics
from tests.central.central_rig import SiteEvents, announcement, config_toml, label
from tests.eventually import eventually
from tests.web.conftest import LOGINS, add_logins

H = 3600.0
FIELDS = ["label", "milestone", "at", "location", "detail", "carrier"]
Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def config_file(
    tmp_path: Path, config: CentralConfig, network: Network, signer: TokenSigner
) -> Path:
    save_network(network, tmp_path / "network.json")
    (tmp_path / "central-key.pem").write_bytes(signer.private_pem())
    path = tmp_path / "central.toml"
    with_network = config.model_copy(
        update={"network": config.network.model_copy(update={"file": tmp_path / "network.json"})}
    )
    path.write_text(config_toml(with_network))
    return path


@pytest.fixture
def lockernet(config_file: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    """`lockernet ARGS --config <the test's central.toml>`: (exit status, stdout, stderr)."""

    def run(*argv: str) -> tuple[int, str, str]:
        code = main([*argv, "--config", str(config_file)])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
    return path


def row(n: int, milestone: str, at: float | str, **more: Any) -> dict[str, Any]:
    return {"label": label(n), "milestone": milestone, "at": at, **more}


def site_event(config: CentralConfig, topics: Topics, event: Event) -> None:
    """A site's event through ingest, as the service would commit it."""
    store = SqliteStore(config.store.path)
    Ingest(store, topics, EventEffects(config.pickup), config.ingest).commit(
        [Delivery(topics.site("L0001", SiteChannel.EVENTS), encode(event))], time.time()
    )
    store.close()


def journey_rows(out: str) -> list[list[str]]:
    """The timeline table's rows of `lockernet track` (cells split on 2+ spaces)."""
    import re

    lines = [line.strip() for line in out.splitlines() if " SGT " in line]
    return [re.split(r"\s{2,}", line) for line in lines]


def app_client(config: CentralConfig, store: Any, now: float) -> TestClient:
    ctx = WebContext(
        config=config,
        store=store,
        reader_location=store_location(config.store),
        signer=TokenSigner.generate(),
        clock=ManualClock(now),
    )
    return TestClient(create_app(ctx))


# ------------------------------------------------------------------ the whole journey


def test_a_parcels_journey_from_origin_to_collected_comes_out_whole_despite_repeats_and_late_milestones(  # noqa: E501
    tmp_path: Path, config: CentralConfig, topics: Topics, lockernet: Run
) -> None:
    base = time.time() - 50 * H  # accepted abroad two days ago
    # The carrier's first feed: origin, dispatch, departure and the hub (customs not yet).
    first = write_csv(
        tmp_path / "carrier-a.csv",
        [
            row(1, "accepted_at_origin", base, location="Shenzhen", carrier="sfx"),
            row(1, "dispatched", base + 2 * H, location="SZX", carrier="sfx"),
            row(1, "linehaul_departed", base + 10 * H, location="SZX", detail="flight CX 2130"),
            row(1, "arrived_at_hub", base + 30 * H, location="Tuas hub"),
        ],
    )
    code, out, err = lockernet("parcels", "events", str(first))
    assert code == 0, err
    assert "carrier-a.csv: 4 milestone(s) recorded, 0 repeat(s)" in out
    code, out, _ = lockernet("track", label(1))
    assert f"parcel {label(1)}: in_transit" in out
    assert "furthest milestone arrived_at_hub" in out

    # The partner's feed, later: dispatch and the hub again (one a re-scan an hour later),
    # and what happened in between, which the first feed skipped.
    second = tmp_path / "partner.json"
    second.write_text(
        json.dumps(
            {
                "milestones": [
                    row(1, "dispatched", base + 2 * H),
                    row(1, "linehaul_arrived", base + 20 * H, location="SIN"),
                    row(1, "import_customs_held", base + 21 * H, detail="x-ray"),
                    row(1, "arrived_at_hub", base + 31 * H, location="Tuas hub"),
                    row(1, "import_customs_released", base + 25 * H),
                    row(1, "export_customs_cleared", base + 4 * H),
                    row(1, "handed_to_partner", base + 32 * H, location="Acme Tampines"),
                ]
            }
        )
    )
    code, out, err = lockernet("parcels", "events", str(second))
    assert code == 0, err
    assert "partner.json: 5 milestone(s) recorded, 2 repeat(s)" in out
    # The same file again is nothing new at all.
    assert "0 milestone(s) recorded, 7 repeat(s)" in lockernet("parcels", "events", str(second))[1]

    # Announced by the manifest, placed, deposited and collected.
    manifest = tmp_path / "manifest.json"
    write_manifest([announcement(1, preferred_site="L0001")], manifest)
    code, out, err = lockernet("parcels", "import", str(manifest))
    assert code == 0 and "announced 1 parcel(s)" in out, out + err
    events = SiteEvents("L0001")
    site_event(config, topics, events.deposit(label(1), "A"))
    site_event(config, topics, events.pickup(label(1), "A"))

    code, out, _ = lockernet("track", label(1))
    assert code == 0
    assert f"parcel {label(1)}: collected" in out
    assert f"dispatched {timestamp(base + 2 * H)}" in out  # the carrier's, not the manifest's
    rows = journey_rows(out)
    assert [r[1] for r in rows] == [
        "milestone accepted_at_origin",
        "milestone dispatched",
        "milestone export_customs_cleared",
        "milestone linehaul_departed",
        "milestone linehaul_arrived",
        "milestone import_customs_held",
        "milestone import_customs_released",
        "milestone arrived_at_hub",
        "milestone handed_to_partner",
        "announce",
        "assign",
        "deposit",
        "pick_up",
    ]
    by_step = {r[1]: r for r in rows}
    # When each happened, where, and who said so (the first report of a repeat).
    assert by_step["milestone dispatched"][0] == timestamp(base + 2 * H)
    assert by_step["milestone dispatched"][3:5] == ["SZX", "file carrier-a.csv row 2 (carrier sfx)"]
    assert by_step["milestone arrived_at_hub"][0] == timestamp(base + 30 * H)
    assert by_step["milestone export_customs_cleared"][3] == "file partner.json row 6"
    assert by_step["milestone linehaul_departed"][-1] == "flight CX 2130"
    assert by_step["pick_up"][2] == "collected"
    assert "Tan Wei Ling" not in out and "wei.ling" not in out

    # The operator API and the public page say the same, in the same order.
    store = open_store(config.store)
    try:
        add_logins(store)
        client = app_client(config, store, time.time())
        name, password = LOGINS[next(iter(LOGINS))]
        assert client.post("/api/login", json={"name": name, "password": password}).is_success
        answer = client.get(f"/api/parcels/{label(1)}").json()
        assert answer["state"] == "collected" and answer["milestone"] == "handed_to_partner"
        assert [s["step"] for s in answer["steps"]] == [r[1].split()[-1] for r in rows]
        assert [s["kind"] for s in answer["steps"]][8:10] == ["milestone", "step"]
        assert answer["steps"][1]["location"] == "SZX"
        public = TestClient(client.app).get(f"/api/track/{label(1)}").json()
    finally:
        store.close()
    texts = [s["what"] for s in public["steps"]]
    assert texts[:3] == [
        "The carrier accepted your parcel abroad (Shenzhen)",
        "Dispatched from abroad (SZX)",
        "Cleared export customs",
    ]
    assert texts[5] == "Held by customs for inspection"
    assert texts[8] == "Handed to the delivery partner (Acme Tampines)"
    assert texts[-1] == "Collected" and public["status"] == "Collected"
    assert "sfx" not in json.dumps(public) and "partner.json" not in json.dumps(public)


# ------------------------------------------------------------------ bad input


def test_bad_rows_are_listed_by_row_and_field_and_change_nothing_while_good_rows_count(
    tmp_path: Path, config: CentralConfig, lockernet: Run
) -> None:
    now = time.time()
    feed = tmp_path / "feed.csv"
    feed.write_text(
        "label,milestone,at,location\n"
        f"{label(1)},dispatched,{now - H},PVG\n"
        "RR000000021CN,dispatched,1800000000,PVG\n"  # a wrong check digit
        f"{label(3)},teleported,{now - H},PVG\n"
        f"{label(4)},dispatched,{now + 3 * H},PVG\n"  # hours ahead: a wrong zone
        f"{label(5)},dispatched,,PVG\n"
        f"{label(6)},dispatched,2026-03-01T08:00:00,PVG\n"  # no zone
        f"{label(7)},dispatched\n",
        encoding="utf-8",
    )
    code, out, err = lockernet("parcels", "events", str(feed))
    assert code == 2
    assert (
        "1 milestone(s) recorded, 0 repeat(s) ignored (recorded before); 6 bad row(s) not recorded"
        in out
    )
    lines = err.splitlines()
    assert len(lines) == 6 and all(line.startswith(f"error: {feed}: row ") for line in lines)
    assert "row 2, field label: Value error, S10 id RR000000021CN has check digit" in lines[0]
    assert "row 3, field milestone:" in lines[1] and "'teleported'" in lines[1]
    assert "row 4, field at: 3.0 hours in the future" in lines[2]
    assert "row 5, field at:" in lines[3]
    assert "row 6, field at:" in lines[4] and "time zone" in lines[4]
    assert "row 7, field (row): line 8: has fewer cells than the header" in lines[5]
    store = SqliteStore(config.store.path)
    with store.transaction() as session:
        assert session.get_parcel(label(1)) is not None
        for n in (3, 4, 5, 6, 7):
            assert session.get_parcel(label(n)) is None
            assert session.milestones(label(n)) == []
    store.close()


def test_a_file_that_is_no_feed_is_refused_whole_naming_it(
    tmp_path: Path, config: CentralConfig, lockernet: Run
) -> None:
    feed = tmp_path / "feed.csv"
    feed.write_text(f"label,what,at\n{label(1)},dispatched,{time.time()}\n", encoding="utf-8")
    code, out, err = lockernet("parcels", "events", str(feed))
    assert code == 2 and out == ""
    assert err == f"error: {feed}: header lacks column(s) milestone\n"
    wrong = tmp_path / "feed.xml"
    wrong.write_text("<x/>")
    assert (
        "a feed is a .csv or .json file, not .xml" in lockernet("parcels", "events", str(wrong))[2]
    )
    with SqliteStore(config.store.path).transaction() as session:
        assert session.get_parcel(label(1)) is None


# ------------------------------------------------------------------ semantics


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "central.sqlite")
    yield opened
    opened.close()


T0 = 1_800_000_000.0


def record(store: SqliteStore, n: int, milestone: Milestone, at: float, **more: Any) -> bool:
    with store.transaction() as session:
        return record_milestone(
            session, label(n), milestone, at=at, source="carrier x", now=T0, **more
        )


def test_an_earlier_report_of_a_milestone_replaces_a_later_one_and_moves_the_dispatch_time(
    store: SqliteStore,
) -> None:
    assert record(store, 1, Milestone.DISPATCHED, T0 - 10 * H)
    assert not record(store, 1, Milestone.DISPATCHED, T0 - 9 * H)  # a later re-scan
    assert record(store, 1, Milestone.DISPATCHED, T0 - 11 * H, location="PVG")
    with store.transaction() as session:
        parcel = session.get_parcel(label(1))
        assert parcel is not None and parcel.dispatched_at == T0 - 11 * H
        [dispatched] = session.milestones(label(1))
        assert (dispatched.at, dispatched.location) == (T0 - 11 * H, "PVG")
        assert [s.step for s in session.steps(label(1))] == ["milestone"]  # one step


def test_lost_and_returned_end_the_journey_only_where_the_lifecycle_allows(
    store: SqliteStore,
) -> None:
    record(store, 1, Milestone.DISPATCHED, T0 - 10 * H)
    assert record(store, 1, Milestone.LOST, T0 - 2 * H)
    record(store, 2, Milestone.RETURNED_TO_ORIGIN, T0 - 2 * H)  # the first word of it
    with store.transaction() as session:
        assert session.get_parcel(label(1)).state == "lost"  # type: ignore[union-attr]
        assert session.get_parcel(label(2)).state == "returned_to_origin"  # type: ignore[union-attr]
        # A late hub scan of a lost parcel is history: it stays lost.
    assert record(store, 1, Milestone.ARRIVED_AT_HUB, T0 - H)
    with store.transaction() as session:
        lost = session.get_parcel(label(1))
        assert lost is not None and lost.state == "lost"
        assert [m.milestone for m in session.milestones(label(1))][-1] == "arrived_at_hub"


def test_a_customs_hold_raises_an_alarm_that_its_release_clears_in_either_order(
    store: SqliteStore,
) -> None:
    def open_kinds(n: int) -> list[str]:
        with store.transaction() as session:
            return [a.kind for a in session.list_alarms() if a.site == alarm_site(label(n))]

    record(store, 1, Milestone.IMPORT_CUSTOMS_HELD, T0 - 5 * H, detail="x-ray")
    assert open_kinds(1) == ["customs_held"]
    record(store, 1, Milestone.IMPORT_CUSTOMS_RELEASED, T0 - 4 * H)
    assert open_kinds(1) == []
    # Heard the other way round, the hold is over before it is known: no alarm.
    record(store, 2, Milestone.IMPORT_CUSTOMS_CLEARED, T0 - 4 * H)
    record(store, 2, Milestone.IMPORT_CUSTOMS_HELD, T0 - 5 * H)
    assert open_kinds(2) == []
    record(store, 3, Milestone.DAMAGED, T0 - 5 * H, detail="crushed corner")
    record(store, 3, Milestone.ARRIVED_AT_HUB, T0 - 4 * H)
    assert open_kinds(3) == ["parcel_damaged"]  # stays until an operator acknowledges it


def test_a_manifest_announces_a_parcel_in_transit_keeping_its_journey_and_owner(
    store: SqliteStore,
) -> None:
    record(store, 1, Milestone.DISPATCHED, T0 - 10 * H, owner="acme")
    with store.transaction() as session:
        assert announce(session, announcement(1), T0, "partner bolt", "bolt") is None
        announced = announce(session, announcement(1), T0)  # the operator's import
    assert announced is not None and announced.state == "announced"
    assert (announced.owner, announced.dispatched_at) == ("acme", T0 - 10 * H)
    assert announced.milestone == "dispatched"
    with store.transaction() as session:
        steps = [(s.step, s.before, s.after) for s in session.steps(label(1))]
        assert steps == [("milestone", None, "in_transit"), ("announce", "in_transit", "announced")]
        # Announced once: the manifest again is a known label.
        assert announce(session, announcement(1), T0 + 1) is None


# ------------------------------------------------------------------ the partner API


def test_a_partner_reports_its_own_and_new_parcels_and_never_anothers(tmp_path: Path) -> None:
    from tests.web.conftest import web_config

    config = web_config(tmp_path)
    store = open_store(config.store)
    try:
        with store.transaction() as session:
            add_partner(session, "acme", "Acme Express", T0)
            add_partner(session, "bolt", "Bolt Logistics", T0)
            acme = issue_key(session, "acme", (Scope.MILESTONES_WRITE, Scope.PARCELS_READ), T0)
            reader_only = issue_key(session, "bolt", (Scope.PARCELS_READ,), T0)
            bolt = issue_key(session, "bolt", (Scope.MILESTONES_WRITE,), T0)
        client = app_client(config, store, T0)
        as_acme = {"Authorization": f"Bearer {acme.text}"}
        body = {
            "milestones": [
                row(1, "dispatched", T0 - 10 * H, location="ICN", carrier="kpost"),
                row(1, "linehaul_departed", "2027-01-15T12:00:00+09:00"),
            ]
        }
        answer = client.post("/api/partner/milestones", json=body, headers=as_acme)
        assert answer.status_code == 200 and answer.json() == {"recorded": 2, "repeated": 0}
        mine = client.get(f"/api/partner/parcels/{label(1)}", headers=as_acme).json()
        assert mine["state"] == "in_transit"

        headers = {"Authorization": f"Bearer {reader_only.text}"}
        refused = client.post("/api/partner/milestones", json=body, headers=headers)
        assert refused.status_code == 403 and "milestones:write" in refused.text

        as_bolt = {"Authorization": f"Bearer {bolt.text}"}
        mixed = {
            "milestones": [
                row(1, "arrived_at_hub", T0 - H),  # acme's parcel
                row(2, "dispatched", T0 - H),
                {"label": label(3), "milestone": "dispatched"},
            ]
        }
        answer = client.post("/api/partner/milestones", json=mixed, headers=as_bolt)
        assert answer.status_code == 422
        rejected = answer.json()
        assert (rejected["recorded"], rejected["repeated"]) == (1, 0)
        assert [(e["row"], e["field"]) for e in rejected["errors"]] == [(1, "label"), (3, "at")]
        assert rejected["errors"][0]["message"] == "not a parcel of yours"
        assert "1 recorded" in rejected["detail"]
    finally:
        store.close()
    with SqliteStore(config.store.path).transaction() as session:
        acmes = session.get_parcel(label(1))
        assert (
            acmes is not None and acmes.owner == "acme" and acmes.milestone == "linehaul_departed"
        )
        assert [m.source for m in session.milestones(label(1))] == [
            "partner acme (carrier kpost)",
            "partner acme",
        ]
        bolts = session.get_parcel(label(2))
        assert bolts is not None and bolts.owner == "bolt"
        assert session.get_parcel(label(3)) is None


# ------------------------------------------------------------------ the file drop


def test_central_takes_files_from_its_drop_folder_to_done_or_rejected_with_the_errors(
    tmp_path: Path,
    config: CentralConfig,
    start_central: Callable[..., CentralService],
    clock: ManualClock,
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    watching = config.model_copy(
        update={"milestones": config.milestones.model_copy(update={"drop_folder": drop})}
    )
    now = clock.now()
    write_csv(drop / "feed.csv.part", [row(1, "dispatched", now - H)])  # still being written
    write_csv(drop / "good.csv", [row(1, "dispatched", now - H), row(2, "lost", now - H)])
    write_csv(drop / "bad.csv", [row(3, "dispatched", now - H), row(4, "teleported", now)])
    start_central(watching)

    done, rejected = drop / "done", drop / "rejected"
    eventually(lambda: (rejected / "bad.csv.errors.txt").exists() and (done / "good.csv").exists())
    assert not (drop / "good.csv").exists() and not (drop / "bad.csv").exists()
    errors = (rejected / "bad.csv.errors.txt").read_text().splitlines()
    assert errors[0].startswith("bad.csv: 1 bad row(s), not recorded; the other rows were")
    assert errors[1].startswith("row 2, field milestone: Input should be")
    assert not (done / "good.csv.errors.txt").exists()

    # The same name again later is kept beside the first, not over it.
    write_csv(drop / "good.csv", [row(1, "dispatched", now - H)])
    eventually((done / "good.1.csv").exists)
    assert (drop / "feed.csv.part").exists()  # a file still being written is left alone
    with SqliteStore(config.store.path).transaction() as session:
        assert session.get_parcel(label(2)).state == "lost"  # type: ignore[union-attr]
        assert session.milestones(label(3))[0].source == "file bad.csv row 1"
        assert session.get_parcel(label(4)) is None
