"""`lockernet plan`: a growing day on the network, checked by hand on a tiny network."""

from __future__ import annotations

import json

import pytest
from matplotlib.image import imread

from central.capacity.plan import PlanOptions, PlanParcel, plan_growth
from central.capacity.plan_cli import print_table
from central.sites.network import (
    Network,
    NetworkSite,
    Partner,
    generate_network,
    save_network,
)
from protocols.cli import main as lockernet
from protocols.messages import SiteKind, SizeClass

# Bedok: postal sector 46.
LAT, LON = 1.3236, 103.9273


def _locker(compartments: dict[SizeClass, int]) -> Network:
    site = NetworkSite(
        id="L0001",
        kind=SiteKind.LOCKER,
        name="Bedok Locker 1",
        lat=LAT,
        lon=LON,
        postal_code="460001",
        compartments=compartments,
    )
    partner = Partner(
        id="natpost", name="National Post", cost_per_parcel=2, on_time_rate=0.9, daily_capacity=1
    )
    return Network(sites=[site], partners=[partner], couriers=[])


def _parcels(count: int, size: SizeClass = SizeClass.S) -> list[PlanParcel]:
    return [
        PlanParcel(f"P{n:03d}", size, LAT, LON, "locker", "L0001", "Bedok") for n in range(count)
    ]


def test_one_locker_of_ten_s_compartments_by_hand() -> None:
    # 12 S parcels a day for ten S compartments: 2 fall back. +20%: round(14.4) = 14, 4 fall
    # back; +44%: round(17.28) = 17, 7 fall back. A target of none makes the greedy add an S
    # compartment per parcel that fell back: 2, then 2 more, then 3 more.
    options = PlanOptions(growth=0.2, years=2, parcels=12, target_fallback=0.0)
    plans = plan_growth(_locker({SizeClass.S: 10}), options, parcels=_parcels(17))

    assert [p.parcels for p in plans] == [12, 14, 17]
    assert [p.fallback for p in plans] == [2, 4, 7]
    assert [round(p.fallback_share, 4) for p in plans] == [round(2 / 12, 4), 0.2857, 0.4118]
    assert [p.added[SizeClass.S] for p in plans] == [2, 2, 3]
    assert [p.added_total[SizeClass.S] for p in plans] == [2, 4, 7]
    assert all(p.added[size] == 0 for p in plans for size in (SizeClass.M, SizeClass.XL))
    assert [p.fallback_with_added for p in plans] == [0, 0, 0]
    assert all(p.target_reached for p in plans)
    assert [p.lockers_full for p in plans] == [1, 1, 1]
    assert plans[0].worst_towns[0].town == "Bedok"
    assert plans[0].worst_towns[0].fallback == 2


def test_the_table_shows_the_hand_computed_figures(capsys) -> None:
    options = PlanOptions(growth=0.2, years=2, parcels=12, target_fallback=0.0)
    plans = plan_growth(_locker({SizeClass.S: 10}), options, parcels=_parcels(17))

    print_table(plans, options, took=1.0)

    rows = [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("│") and line.split("│")[1].strip()
    ]
    # year, parcels, fell back, share, lockers full, counters full, towns, +S +M +L +XL, after
    assert rows == [
        ["0", "12", "2", "16.7%", "1", "0", "Bedok 2", "2", "0", "0", "0", "0.0%"],
        ["1", "14", "4", "28.6%", "1", "0", "Bedok 4", "2", "0", "0", "0", "0.0%"],
        ["2", "17", "7", "41.2%", "1", "0", "Bedok 7", "3", "0", "0", "0", "0.0%"],
    ]


def test_compartments_are_sized_by_the_parcels_that_fell_back() -> None:
    # Ten S compartments and twelve L parcels: none fits, all twelve fall back; a target of
    # 25% (3 of 12) leaves 9 to place: the greedy adds L compartments, not S.
    options = PlanOptions(growth=0.0, years=1, parcels=12, target_fallback=0.25)
    plans = plan_growth(_locker({SizeClass.S: 10}), options, parcels=_parcels(12, SizeClass.L))

    assert plans[0].fallback == 12
    assert plans[0].added[SizeClass.S] == 0
    assert plans[0].added[SizeClass.L] >= 9
    assert plans[0].fallback_with_added <= 3
    assert plans[1].added[SizeClass.L] == 0  # no growth: last year's compartments suffice


def test_under_the_target_nothing_is_added() -> None:
    options = PlanOptions(growth=0.0, years=1, parcels=12, target_fallback=0.2)
    plans = plan_growth(_locker({SizeClass.S: 10}), options, parcels=_parcels(12))

    assert plans[0].fallback == 2  # 2 of 12 is under 20%
    assert sum(plans[0].added_total.values()) == 0
    assert plans[0].rounds == 0


@pytest.fixture
def small_network(tmp_path):
    path = tmp_path / "network.json"
    save_network(generate_network(3, lockers=12, counters=30, couriers=4), path)
    return path


def test_cli_writes_a_chart_and_json(tmp_path, small_network, capsys) -> None:
    report = tmp_path / "report"
    code = lockernet(
        ["plan", "--network", str(small_network), "--parcels", "3000", "--years", "3",
         "--growth", "0.2", "--target-fallback", "0.05", "--report", str(report), "--json"]
    )  # fmt: skip

    assert code == 0
    out = json.loads(capsys.readouterr().out)
    years = out["years"]
    assert [y["parcels"] for y in years] == [3000, 3600, 4320, 5184]
    assert years[-1]["fallback"] > years[0]["fallback"]  # more parcels, same network
    for year in years:
        assert year["share_with_added"] <= 0.05 or not year["target_reached"]
    png = report / "plan.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width, _ = imread(png).shape
    assert (width, height) == (1000, 450)
    assert json.loads((report / "plan.json").read_text())["years"] == years


def test_cli_prints_a_table(small_network, capsys) -> None:
    code = lockernet(["plan", "--network", str(small_network), "--parcels", "500", "--years", "1"])

    assert code == 0
    out = capsys.readouterr().out
    assert "Growth ahead: 20% a year from 500 parcels a day" in out
    assert "share with added" in out
    assert "+XL" in out


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--growth", "abc"], "--growth 'abc' is not a number"),
        (["--growth", "1.5"], "--growth 1.5 is not a share between 0 and 1"),
        (["--years", "0"], "--years 0 is not between 1 and 30"),
        (["--parcels", "-5"], "--parcels -5 is not between 1 and 2000000"),
        (["--target-fallback", "2"], "--target-fallback 2.0 is not a share between 0 and 1"),
    ],
)
def test_bad_options_are_named(args, named, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        lockernet(["plan", *args])

    assert exit_info.value.code == 2
    assert named in capsys.readouterr().err


def test_a_bad_network_file_is_named(tmp_path, capsys) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text("{}")

    assert lockernet(["plan", "--network", str(bad), "--years", "1"]) == 1
    assert str(bad) in capsys.readouterr().err


def test_report_must_be_a_folder(tmp_path, small_network, capsys) -> None:
    file = tmp_path / "file"
    file.write_text("x")

    code = lockernet(["plan", "--network", str(small_network), "--report", str(file)])

    assert code == 2
    assert f"--report {file} is not a folder" in capsys.readouterr().err
