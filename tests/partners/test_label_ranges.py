"""Label ownership: a partner's registered label ranges (S10 pairs, prefixes) keep every other
partner from announcing its labels, through the partner API, `lockernet parcels import
--partner` and milestones alike; a refusal never says whose range it is nor whether the
label exists; the operator moves a squatted parcel to its owner, audited."""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from central.parcels.lifecycle import ParcelStep
from central.parcels.manifest import write_manifest
from central.parcels.steps import take_step
from central.partners.endpoints import add_endpoint, deliveries
from central.partners.keys import PartnerError, Scope, add_partner, issue_key
from central.partners.label_ranges import (
    REFUSAL_TEXT,
    LabelPolicy,
    LabelRange,
    LabelRefusal,
    parse_ranges,
)
from central.partners.ownership import REASSIGN_ACTION, add_ranges
from central.store import CentralStore
from central.store.open import open_store, store_location
from central.web.app import create_app
from central.web.context import WebContext
from protocols.cli import main
from protocols.clock import ManualClock
from protocols.labels import make_s10
from protocols.tokens import TokenSigner
from tests.central.central_rig import announcement, label
from tests.partners.test_partner_api import config

T0 = 1_800_000_000.0
ALL = (Scope.PARCELS_WRITE, Scope.PARCELS_READ, Scope.MILESTONES_WRITE, Scope.RETURNS_WRITE)
OWNED = LabelRefusal.OWNED_BY_ANOTHER_PARTNER.value
OUTSIDE = LabelRefusal.OUTSIDE_YOUR_RANGES.value


def ee(n: int) -> str:
    """A label in bolt's range EE*SG."""
    return make_s10("EE", n, "SG")


# ------------------------------------------------------------------------ the policy (pure)


@pytest.mark.parametrize(
    ("pattern", "inside", "outside"),
    [
        ("EE*SG", ee(1), make_s10("EE", 1, "SE")),
        ("ee*sg", ee(2), make_s10("EA", 2, "SG")),
        ("LP1234", "LP12345678901", "LP12355678901"),
        ("RR12", make_s10("RR", 12_000_001, "CN"), make_s10("RR", 13_000_001, "CN")),
    ],
)
def test_a_range_holds_the_labels_it_names_and_no_others(
    pattern: str, inside: str, outside: str
) -> None:
    parsed = LabelRange.parse(pattern)
    assert parsed.text == pattern.upper()
    assert parsed.matches(inside) and not parsed.matches(outside)


@pytest.mark.parametrize(
    ("one", "other", "overlap"),
    [
        ("EE*SG", "EE*SG", True),
        ("EE*SG", "EE*CN", False),
        ("LP12", "LP1234", True),
        ("LP12", "LP13", False),
        ("EE*SG", "EE1", True),  # EE1xxxxxxxxSG
        ("EE*SG", "EE123456785SG", True),
        ("EE*SG", "EE123456785CN", False),
        ("EE*SG", "EEX", False),
        ("EE*SG", "LP12", False),
        ("EE*SG", "E1", False),
    ],
)
def test_overlapping_ranges_are_found_whichever_kind(one: str, other: str, overlap: bool) -> None:
    a, b = LabelRange.parse(one), LabelRange.parse(other)
    assert a.overlaps(b) is overlap and b.overlaps(a) is overlap


@pytest.mark.parametrize("bad", ["E*SG", "EE*S", "L", "EE-SG", "", "LP" + "1" * 40, "EE**SG"])
def test_a_malformed_range_is_refused_saying_what_a_range_is(bad: str) -> None:
    with pytest.raises(PartnerError, match=r"label range|at least one") as caught:
        parse_ranges(bad)
    assert "EE*SG" in str(caught.value)


def test_who_may_announce_a_label() -> None:
    policy = LabelPolicy([("bolt", LabelRange.parse("EE*SG")), ("cargo", LabelRange.parse("LP99"))])
    assert policy.refusal("acme", label(1)) is None  # no ranges, nobody's range: as before
    assert policy.refusal("acme", ee(1)) is LabelRefusal.OWNED_BY_ANOTHER_PARTNER
    assert policy.refusal("bolt", ee(1)) is None
    assert policy.refusal("bolt", label(1)) is LabelRefusal.OUTSIDE_YOUR_RANGES
    assert policy.refusal("bolt", "LP9912345678") is LabelRefusal.OWNED_BY_ANOTHER_PARTNER
    assert policy.refusal(None, ee(1)) is None  # the operator's own import is trusted


# Labels and ranges drawn from a small alphabet, so that they often meet.
_LETTERS = st.sampled_from("EEL")
_SERVICE = st.builds(lambda a, b: a + b, _LETTERS, _LETTERS)
_COUNTRY = st.sampled_from(["SG", "CN"])
_S10_LABELS = st.builds(
    make_s10,
    _SERVICE,
    st.integers(0, 99_999_999),
    _COUNTRY,
)
_LP_LABELS = st.from_regex(r"LP1[0-9]{9}", fullmatch=True)
_RANGES = st.one_of(
    st.builds(lambda s, c: LabelRange.parse(f"{s}*{c}"), _SERVICE, _COUNTRY),
    st.builds(LabelRange.parse, st.from_regex(r"(LP1[0-9]{0,2}|EE[0-9]{0,3})", fullmatch=True)),
)


@settings(max_examples=300, deadline=None)
@given(
    ranges=st.lists(st.tuples(st.sampled_from(["acme", "bolt", "cargo"]), _RANGES), max_size=6),
    labels=st.lists(st.one_of(_S10_LABELS, _LP_LABELS), min_size=1, max_size=10),
    partner=st.sampled_from(["acme", "bolt", "dash", None]),
)
def test_the_policys_lookup_decides_as_each_range_alone_would(
    ranges: list[tuple[str, LabelRange]], labels: list[str], partner: str | None
) -> None:
    policy = LabelPolicy(ranges)
    for text in labels:
        holders = {holder for holder, held in ranges if held.matches(text)}
        assert policy.holders(text) == holders
        expected = None
        if partner is not None and holders - {partner}:
            expected = LabelRefusal.OWNED_BY_ANOTHER_PARTNER
        elif partner is not None and partner in dict(ranges) and partner not in holders:
            expected = LabelRefusal.OUTSIDE_YOUR_RANGES
        assert policy.refusal(partner, text) is expected
        # Two ranges that share a label are found to overlap (the guard at registration).
        for (_, one), (_, other) in itertools.combinations(ranges, 2):
            if one.matches(text) and other.matches(text):
                assert one.overlaps(other)


# ------------------------------------------------------------------------ the partner API


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CentralStore]:
    """acme (no ranges) and bolt (EE*SG, LP1234)."""
    opened = open_store(config(tmp_path).store)
    with opened.transaction() as session:
        add_partner(session, "acme", "Acme Express", T0)
        add_partner(session, "bolt", "Bolt Logistics", T0)
        add_ranges(session, "bolt", parse_ranges("EE*SG,LP1234"), T0)
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


def key(store: CentralStore, partner: str) -> dict[str, str]:
    with store.transaction() as session:
        issued = issue_key(session, partner, ALL, T0)
    return {"Authorization": f"Bearer {issued.text}"}


def rows(*labels: str) -> list[dict[str, Any]]:
    return [announcement(1, label=text).model_dump(mode="json") for text in labels]


def owners(store: CentralStore, *labels: str) -> dict[str, str | None]:
    with store.transaction() as session:
        found = {text: session.get_parcel(text) for text in labels}
    return {text: record.owner for text, record in found.items() if record is not None}


def manifest(client: TestClient, headers: dict[str, str], *labels: str) -> Any:
    return client.post("/api/partner/manifests", headers=headers, json={"parcels": rows(*labels)})


def test_a_label_in_another_partners_range_is_refused_and_nothing_written(
    client: TestClient, store: CentralStore
) -> None:
    as_acme = key(store, "acme")
    answer = manifest(client, as_acme, label(1), ee(7), "LP123400000001")
    assert answer.status_code == 422
    errors = answer.json()["errors"]
    assert [(e["row"], e["field"]) for e in errors] == [(2, "label"), (3, "label")]
    assert all(e["message"].startswith(f"{OWNED}:") for e in errors)
    assert "bolt" not in answer.text.lower()  # whose range it is stays unsaid
    assert owners(store, label(1), ee(7), "LP123400000001") == {}  # not even the good row
    # The rightful owner announces it as its own; acme's own labels go as they always did.
    as_bolt = key(store, "bolt")
    assert manifest(client, as_bolt, ee(7)).json() == {"announced": [ee(7)], "already_known": []}
    assert manifest(client, as_acme, label(1)).json()["announced"] == [label(1)]
    assert owners(store, label(1), ee(7)) == {label(1): "acme", ee(7): "bolt"}


def test_a_partner_with_ranges_announces_only_inside_them(
    client: TestClient, store: CentralStore
) -> None:
    as_bolt = key(store, "bolt")
    answer = manifest(client, as_bolt, ee(1), label(2))
    assert answer.status_code == 422
    (error,) = answer.json()["errors"]
    assert error["row"] == 2 and error["message"].startswith(f"{OUTSIDE}:")
    assert "operator" in error["message"]  # what to do about it
    assert owners(store, ee(1), label(2)) == {}


def test_a_refusal_is_the_same_whether_the_label_exists_or_not(
    client: TestClient, store: CentralStore
) -> None:
    as_acme = key(store, "acme")
    assert manifest(client, key(store, "bolt"), ee(1)).status_code == 200
    exists = manifest(client, as_acme, ee(1)).json()
    absent = manifest(client, as_acme, ee(2)).json()
    assert [e["message"] for e in exists["errors"]] == [e["message"] for e in absent["errors"]]
    assert exists["detail"] == absent["detail"]
    assert owners(store, ee(1), ee(2)) == {ee(1): "bolt"}


def test_a_milestone_cannot_squat_a_label_in_another_partners_range(
    client: TestClient, store: CentralStore
) -> None:
    as_acme = key(store, "acme")
    assert manifest(client, key(store, "bolt"), ee(1)).status_code == 200
    body = {
        "milestones": [
            {"label": text, "milestone": "dispatched", "at": T0 - 3600}
            for text in (ee(1), ee(2), label(3))
        ]
    }
    answer = client.post("/api/partner/milestones", headers=as_acme, json=body)
    assert answer.status_code == 422
    errors = answer.json()["errors"]
    assert [e["row"] for e in errors] == [1, 2]
    # Another's parcel and a label nobody announced yet answer alike inside a range.
    assert errors[0]["message"] == errors[1]["message"] and errors[0]["message"].startswith(OWNED)
    assert owners(store, ee(1), ee(2), label(3)) == {ee(1): "bolt", label(3): "acme"}


def test_a_return_label_cannot_squat_a_label_either(
    client: TestClient, store: CentralStore
) -> None:
    returns = "/api/partner/returns"
    assert manifest(client, key(store, "bolt"), ee(1)).status_code == 200
    as_acme = key(store, "acme")
    answers = [
        client.post(returns, headers=as_acme, json={"label": text, "size": "M"})
        for text in (ee(1), ee(2).lower())  # bolt's parcel, and a label nobody announced
    ]
    assert [a.status_code for a in answers] == [400, 400]
    assert (
        answers[0].json()["detail"]
        == f"label {ee(1)}: {OWNED}: {REFUSAL_TEXT[LabelRefusal.OWNED_BY_ANOTHER_PARTNER]}"
    )
    assert answers[1].json()["detail"] == answers[0].json()["detail"].replace(ee(1), ee(2))
    as_bolt = key(store, "bolt")
    outside = client.post(returns, headers=as_bolt, json={"label": label(3), "size": "M"})
    assert outside.status_code == 400 and OUTSIDE in outside.json()["detail"]
    inside = client.post(returns, headers=as_bolt, json={"label": ee(4), "size": "M"})
    assert inside.status_code == 201
    assert owners(store, ee(1), ee(2), label(3), ee(4)) == {ee(1): "bolt", ee(4): "bolt"}


# ------------------------------------------------------------------------ the operator's CLI


@pytest.fixture
def toml(tmp_path: Path) -> Path:
    path = tmp_path / "central.toml"
    path.write_text(f'[store]\npath = "{tmp_path / "central.sqlite"}"\n')
    return path


def run(capsys: pytest.CaptureFixture[str], toml: Path, *argv: str) -> tuple[int, str, str]:
    status = main([*argv, "--config", str(toml)])
    out, err = capsys.readouterr()
    return status, out, err


def held(out: str) -> list[str]:
    """The ranges in `lockernet partner ranges`'s table: each row's first cell."""
    lines = out.splitlines()
    rule = next(n for n, line in enumerate(lines) if line.strip().startswith("─"))
    rows: list[str] = []
    for line in lines[rule + 1 :]:
        cells = line.split()
        if not cells or not re.fullmatch(r"[A-Z0-9*]+", cells[0]):
            break  # the table's end: a blank line, or what follows it
        rows.append(cells[0])
    return rows


def test_the_operator_registers_lists_and_removes_ranges(
    toml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(
        capsys, toml, "partner", "add", "bolt", "--name", "Bolt", "--ranges", "ee*sg"
    )
    assert status == 0 and held(out) == ["EE*SG"]
    assert run(capsys, toml, "partner", "add", "acme", "--name", "Acme")[0] == 0
    status, out, _ = run(capsys, toml, "partner", "ranges", "bolt", "--add", "LP1234,RR*CN")
    assert status == 0
    assert held(out) == ["EE*SG", "LP1234", "RR*CN"]
    status, out, _ = run(capsys, toml, "partner", "ranges", "bolt", "--remove", "RR*CN")
    assert status == 0 and held(out) == ["EE*SG", "LP1234"]
    status, out, _ = run(capsys, toml, "partner", "ranges", "acme")
    assert status == 0 and "no label ranges" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ranges", "acme", "--add", "LP12"], "LP12 overlaps a range of partner bolt"),
        (["ranges", "acme", "--add", "RR*CN,EE123"], "EE123 overlaps a range of partner bolt"),
        (["ranges", "acme", "--add", "EE*SG"], "EE*SG overlaps a range of partner bolt"),
        (["ranges", "acme", "--add", "E*SG"], "label range 'E*SG'"),
        (["ranges", "acme", "--remove", "LP1234"], "acme has no label range LP1234"),
        (["ranges", "ghost", "--add", "RR*CN"], "no partner 'ghost'"),
        (["add", "cargo", "--name", "Cargo", "--ranges", "LP1"], "overlaps a range of partner"),
        (["reassign", "RR123456785CN", "--to", "acme"], "no parcel RR123456785CN"),
        (["reassign", "RR123456789CN", "--to", "acme"], "check digit"),
        (["reassign", label(1), "--to", "ghost"], "no partner 'ghost'"),
    ],
)
def test_bad_ranges_are_refused_naming_what_and_change_nothing(
    toml: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    run(capsys, toml, "partner", "add", "bolt", "--name", "Bolt", "--ranges", "EE*SG,LP1234")
    run(capsys, toml, "partner", "add", "acme", "--name", "Acme")
    status, out, err = run(capsys, toml, "partner", *argv)
    assert status == 2 and out == "" and message in err
    assert "no label ranges" in run(capsys, toml, "partner", "ranges", "acme")[1]
    assert held(run(capsys, toml, "partner", "ranges", "bolt")[1]) == ["EE*SG", "LP1234"]
    assert run(capsys, toml, "partner", "keys", "cargo")[0] == 2  # no partner half-added


def test_an_import_for_a_partner_is_checked_against_the_ranges(
    tmp_path: Path, toml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, toml, "partner", "add", "bolt", "--name", "Bolt", "--ranges", "EE*SG")
    run(capsys, toml, "partner", "add", "acme", "--name", "Acme")
    file = tmp_path / "acme.csv"
    write_manifest([announcement(1), announcement(1, label=ee(2))], file)
    status, _, err = run(capsys, toml, "parcels", "import", str(file), "--partner", "acme")
    assert status == 2 and f"row 2, field label: {OWNED}:" in err and "bolt" not in err
    status, _, err = run(capsys, toml, "parcels", "import", str(file), "--partner", "ghost")
    assert status == 2 and "no partner 'ghost'" in err
    store = open_store(config(tmp_path).store)
    try:
        assert owners(store, label(1), ee(2)) == {}
    finally:
        store.close()
    mine = tmp_path / "bolt.json"
    write_manifest([announcement(1, label=ee(2))], mine)
    assert run(capsys, toml, "parcels", "import", str(mine), "--partner", "bolt")[0] == 0
    # The operator's own import (no --partner) is trusted, as before: nobody's parcel.
    write_manifest([announcement(1), announcement(1, label=ee(3))], file)
    assert run(capsys, toml, "parcels", "import", str(file))[0] == 0
    store = open_store(config(tmp_path).store)
    try:
        assert owners(store, ee(2), label(1), ee(3)) == {ee(2): "bolt", label(1): None, ee(3): None}
    finally:
        store.close()


def test_the_operator_moves_a_squatted_parcel_to_its_owner_audited(
    toml: Path,
    client: TestClient,
    store: CentralStore,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # acme announced cargo's label before cargo registered its range: the squat of the review.
    as_acme = key(store, "acme")
    with store.transaction() as session:
        add_partner(session, "cargo", "Cargo Co", T0)
        for partner in ("acme", "cargo"):
            add_endpoint(session, partner, f"https://hooks.{partner}.example/h", [], T0)
    assert manifest(client, as_acme, label(5)).status_code == 200
    # Registering the range shows the operator what others announced inside it already.
    status, out, _ = run(capsys, toml, "partner", "ranges", "cargo", "--add", "RR*CN")
    assert status == 0 and f"{label(5)}  partner acme" in out and "reassign" in out
    as_cargo = key(store, "cargo")
    assert manifest(client, as_cargo, label(5)).json()["already_known"] == [label(5)]
    assert client.get(f"/api/partner/parcels/{label(5)}", headers=as_cargo).status_code == 404

    caplog.set_level(logging.WARNING, logger="central.partners.ownership")
    status, out, _ = run(capsys, toml, "partner", "reassign", label(5).lower(), "--to", "cargo")
    assert status == 0 and "moved from acme to cargo" in out
    assert client.get(f"/api/partner/parcels/{label(5)}", headers=as_cargo).status_code == 200
    assert client.get(f"/api/partner/parcels/{label(5)}", headers=as_acme).status_code == 404
    with store.transaction() as session:
        (entry,) = [e for e in session.audit_entries() if e.action == REASSIGN_ACTION]
        assert entry.target == label(5) and entry.reason == "owner acme -> cargo"
        record = session.get_parcel(label(5))
        assert record is not None
        sent_before = {p: len(deliveries(session, p)) for p in ("acme", "cargo")}
        take_step(
            session,
            record,
            ParcelStep.ASSIGN,
            at=T0 + 200,
            source="central",
            now=T0 + 200,
            site="L0001",
        )
    with store.transaction() as session:
        sent_after = {p: len(deliveries(session, p)) for p in ("acme", "cargo")}
    # The next step's webhook goes to the owner, no longer to the squatter.
    assert sent_after == {"acme": sent_before["acme"], "cargo": sent_before["cargo"] + 1}
    assert any("moved from partner acme to partner cargo" in r.getMessage() for r in caplog.records)
    assert label(5) not in run(capsys, toml, "partner", "ranges", "cargo")[1]
    again = run(capsys, toml, "partner", "reassign", label(5), "--to", "cargo")
    assert again[0] == 2 and "cargo's already" in again[2]
