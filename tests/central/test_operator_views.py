"""The operator's views as text: a site's words printed as they are, one line a row."""

from __future__ import annotations

from central.operator.alarms import AlarmLine, format_alarms
from central.operator.diagnostics import format_report
from central.operator.fleet import FleetView, SiteView, format_fleet


def site(name: str, **changes: object) -> SiteView:
    fields: dict[str, object] = dict(
        site=name,
        kind="locker",
        online=True,
        slots=24,
        occupied=20,
        free=3,
        reserved=1,
        out_of_service=0,
        shelf_capacity=None,
        shelf_used=None,
        faults=0,
        open_alarms=0,
        applied_seq=9,
        deposits=40,
        pickups=35,
    )
    fields.update(changes)
    return SiteView(**fields)  # type: ignore[arg-type]


def test_a_sites_text_is_not_read_as_markup() -> None:
    detail = "[bold red]forced[/] by [link=http://x]me[/link]"
    text = format_alarms([AlarmLine(7, "L0001", "door_forced", "B", 0.0, detail, "ops")])
    assert f"{detail} [acked by ops]" in text
    assert format_alarms([]) == "no open alarms"


def test_the_fleet_table_has_one_line_a_site_however_long_and_a_count_of_the_rest() -> None:
    view = FleetView(
        [
            site("L0001", clock_offset_s=-4 * 3600.0),
            site(
                "C-A-RATHER-LONG-COLLECTION-POINT",
                kind="counter",
                online=False,
                shelf_capacity=40,
                shelf_used=12,
            ),
            site("L0003", online=None),
        ]
    )
    text = format_fleet(view, limit=2)
    lines = text.splitlines()
    assert "sites 3: online 1, offline 1, link unknown 0, never heard from 1" in lines[0]
    [first] = [line for line in lines if line.startswith("L0001")]
    assert first.split() == [
        "L0001",
        "locker",
        "online",
        "20/24",
        "3",
        "1",
        "0",
        "0",
        "0",
        "40",
        "35",
        "-4.0h",
    ]
    [counter] = [line for line in lines if line.startswith("C-A-RATHER")]
    assert counter.split()[:4] == [
        "C-A-RATHER-LONG-COLLECTION-POINT",
        "counter",
        "OFFLINE",
        "12/40",
    ]
    assert not any(line.startswith("L0003") for line in lines)
    assert lines[-1] == "... and 1 more sites"


def test_a_diagnostic_report_is_indented_by_depth() -> None:
    report = {"boards": [{"board": 0, "ok": True}], "scanner": "ok", "empty": []}
    assert format_report(report).splitlines() == [
        "  boards:",
        "    -",
        "      board: 0",
        "      ok: True",
        "  scanner: ok",
        "  empty: []",
    ]
