"""`lockernet sla` over a small day worked out by hand: eight parcels through their steps on
a manual clock, the timer judging them as it goes, and the report's shares per partner, site
and day and its breach causes compared with the figures counted by hand."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from central.operator.sla import day_bounds, sla_report
from central.parcels.lifecycle import ParcelStep
from central.parcels.promise import watch
from central.parcels.steps import CENTRAL, announce, take_step
from central.service.config import PromiseConfig
from central.store import ParcelRecord, SqliteStore, StoreSession
from central.store.open import open_reader
from protocols.cli import main
from protocols.clock import ManualClock
from tests.central.central_rig import announcement, label

H = 3600.0
DAY = date(2027, 1, 15)
D0 = day_bounds(DAY)[0]  # midnight, Singapore time
PROMISE = PromiseConfig()

Action = Callable[[StoreSession, float], None]


def announced(n: int, deadline: float) -> Action:
    def act(session: StoreSession, at: float) -> None:
        announce(session, announcement(n, dispatched_at=deadline - 72 * H), at)

    return act


def moved(n: int, step: ParcelStep, **changes: Any) -> Action:
    def act(session: StoreSession, at: float) -> None:
        record = session.get_parcel(label(n))
        assert record is not None
        take_step(session, record, step, at=at, source=CENTRAL, now=at, **changes)

    return act


def in_transit(n: int, deadline: float, milestone: str) -> Action:
    def act(session: StoreSession, at: float) -> None:
        record = ParcelRecord(label(n), None)
        take_step(
            session,
            record,
            ParcelStep.MILESTONE,
            at=at,
            source="carrier feed",
            now=at,
            milestone=milestone,
            dispatched_at=deadline - 72 * H,
        )

    return act


def assigned(partner: str, site: str | None) -> dict[str, Any]:
    return {"partner": partner, "site": site, "delivery_mode": "locker" if site else "home"}


def the_day() -> list[tuple[float, Action]]:
    """Parcel n: its deadline on DAY (local), what happens to it, and (by hand) its outcome."""
    return [
        # 1 post, L0001, due 10:00, in its locker at 08:00: met.
        (D0 - 30 * H, announced(1, D0 + 10 * H)),
        (D0 - 20 * H, moved(1, ParcelStep.ASSIGN, **assigned("post", "L0001"))),
        (D0 + 8 * H, moved(1, ParcelStep.DEPOSIT)),
        # 2 post, L0001, due 12:00, still on the courier's van then, in at 13:00: breached
        # at out_for_delivery.
        (D0 - 30 * H, announced(2, D0 + 12 * H)),
        (D0 - 20 * H, moved(2, ParcelStep.ASSIGN, **assigned("post", "L0001"))),
        (D0 + 9 * H, moved(2, ParcelStep.HAND_TO_COURIER)),
        (D0 + 13 * H, moved(2, ParcelStep.DEPOSIT)),
        # 3 express, counter C0001, due 18:00, on its shelf at 09:00: met.
        (D0 - 30 * H, announced(3, D0 + 18 * H)),
        (D0 - 20 * H, moved(3, ParcelStep.ASSIGN, **assigned("express", "C0001"))),
        (D0 + 9 * H, moved(3, ParcelStep.DEPOSIT)),
        # 4 express, home, due 20:00, never left the depot: breached at assigned.
        (D0 - 30 * H, announced(4, D0 + 20 * H)),
        (D0 - 20 * H, moved(4, ParcelStep.ASSIGN, **assigned("express", None))),
        # 5 post, L0002, due 23:00, in its locker the evening before: met.
        (D0 - 30 * H, announced(5, D0 + 23 * H)),
        (D0 - 20 * H, moved(5, ParcelStep.ASSIGN, **assigned("post", "L0002"))),
        (D0 - 4 * H, moved(5, ParcelStep.DEPOSIT)),
        # 6 express, L0001, due the next morning, in at 07:00 then: met, another day.
        (D0 - 10 * H, announced(6, D0 + 33 * H)),
        (D0 + 2 * H, moved(6, ParcelStep.ASSIGN, **assigned("express", "L0001"))),
        (D0 + 31 * H, moved(6, ParcelStep.DEPOSIT)),
        # 7 due two days on, still on its way: undecided, not counted.
        (D0 - 10 * H, announced(7, D0 + 50 * H)),
        # 8 known only from the carrier: landed, never announced, due 15:00: breached at
        # linehaul_arrived, with no partner and no site.
        (D0 - 5 * H, in_transit(8, D0 + 15 * H, "linehaul_arrived")),
    ]


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """The day played on a manual clock, the timer's watch before every event."""
    path = tmp_path / "central.sqlite"
    store = SqliteStore(path)
    clock = ManualClock(start=D0 - 40 * H)
    for at, act in sorted(the_day(), key=lambda e: e[0]):
        clock.advance(at - clock.now())
        watch(store, PROMISE, clock.now())
        with store.transaction() as session:
            act(session, clock.now())
    clock.advance(D0 + 36 * H - clock.now())
    watch(store, PROMISE, clock.now())
    store.close()
    return path


def test_the_days_report_matches_the_figures_counted_by_hand(store_path: Path) -> None:
    with open_reader(str(store_path)) as reader:
        report = sla_report(reader.view, DAY).as_json()
    assert report["day"] == "2027-01-15"
    assert report["total"] == {
        "key": "all",
        "met": 3,
        "breached": 3,
        "within_promise_share": 0.5,
    }
    assert {p["key"]: (p["met"], p["breached"]) for p in report["partners"]} == {
        "post": (2, 1),
        "express": (1, 1),
        "(no partner)": (0, 1),
    }
    assert {s["key"]: (s["met"], s["breached"]) for s in report["sites"]} == {
        "L0001": (1, 1),
        "C0001": (1, 0),
        "L0002": (1, 0),
        "home": (0, 1),
        "(no site)": (0, 1),
    }
    assert report["days"] == [
        {"key": "2027-01-15", "met": 3, "breached": 3, "within_promise_share": 0.5}
    ]
    assert report["breach_causes"] == [
        {"cause": "assigned", "breached": 1},
        {"cause": "linehaul_arrived", "breached": 1},
        {"cause": "out_for_delivery", "breached": 1},
    ]


def test_every_day_counts_the_parcels_due_on_each(store_path: Path) -> None:
    with open_reader(str(store_path)) as reader:
        report = sla_report(reader.view).as_json()
    assert [(d["key"], d["met"], d["breached"]) for d in report["days"]] == [
        ("2027-01-15", 3, 3),
        ("2027-01-16", 1, 0),  # parcel 6; parcel 7 is not decided
    ]
    assert report["total"]["within_promise_share"] == round(4 / 7, 4)


def test_the_command_prints_the_report_and_refuses_a_bad_day(
    store_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "central.toml"
    config.write_text(f'[store]\npath = "{store_path.name}"\n')
    assert main(["sla", "--day", "2027-01-15", "--json", "--config", str(config)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["total"]["within_promise_share"] == 0.5
    assert main(["sla", "--day", "2027-01-15", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "within the promise: 50.0% of 6 parcels (3 met, 3 breached)" in out
    assert "out_for_delivery" in out and "(no partner)" in out
    with pytest.raises(SystemExit) as refused:
        main(["sla", "--day", "2027-02-30", "--config", str(config)])
    assert refused.value.code == 2
    assert "'2027-02-30' is not a day (YYYY-MM-DD)" in capsys.readouterr().err
