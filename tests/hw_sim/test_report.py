"""What `lockernet sim` shows and writes: the report's charts (matplotlib PNGs), the summary
table and the live view, each as a table on a terminal and as plain lines anywhere else."""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image
from rich.console import Console

from hw_sim.network.live_view import HourView, LiveView
from hw_sim.network.report import write_report
from hw_sim.network.summary_table import print_summary
from hw_sim.network.tally import Tally

HOUR = HourView(
    hour=5.0,
    events=1234,
    rate=56.7,
    online=209,
    sites=210,
    used=40,
    total=300,
    open_alarms={"slot_fault": 2},
    parcels={"assigned": 10, "collected": 3},
)
SUMMARY = {
    "verdict": "clean",
    "events_lost": 0,
    "faults": ["04.00h L0029 reboots [at 1970]", "15.50h broker restart"],
    "alarms_at_central": {"site_offline": {"raised": 3, "open": 0}},
}


def console(terminal: bool) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=terminal, width=120, color_system=None), out


def test_the_report_writes_the_summary_and_three_charts(tmp_path: Path) -> None:
    tally = Tally(
        occupancy=[(h / 6, h, 200) for h in range(0, 145)],
        events_per_s=[(h / 6, 50.0 + h) for h in range(0, 145)],
        # A wrong clock's negative and far-off waits are counted at the ends, not dropped.
        deposit_to_pickup_h=[0.5, 1.0, 2.5, 2.5, -3.0, 400.0],
    )
    written = write_report(tmp_path / "report", {"verdict": "clean"}, tally)
    names = [path.name for path in written]
    assert names == [
        "summary.json",
        "occupancy.png",
        "events_per_second.png",
        "deposit_to_pickup.png",
    ]
    assert json.loads(written[0].read_text()) == {"verdict": "clean"}
    for chart in written[1:]:
        with Image.open(chart) as image:
            assert image.format == "PNG" and image.size == (900, 420), chart
            # Drawn, not blank: the line or bars take more than a few colours.
            colors = image.convert("RGB").getcolors(maxcolors=1 << 16)
            assert colors is None or len(colors) > 20, chart


def test_the_report_draws_an_empty_day(tmp_path: Path) -> None:
    written = write_report(tmp_path, {}, Tally())
    assert all(path.stat().st_size > 0 for path in written)


def test_the_summary_is_plain_lines_off_a_terminal() -> None:
    shown, out = console(terminal=False)
    print_summary(SUMMARY, shown)
    lines = out.getvalue().splitlines()
    assert lines[0] == "verdict            clean"
    assert lines[1] == "events_lost        0"
    # One line per entry whatever its length, lists as JSON: a log stays greppable.
    assert lines[2] == f"faults             {json.dumps(SUMMARY['faults'])}"
    assert len(lines) == len(SUMMARY)


def test_the_summary_is_a_table_on_a_terminal() -> None:
    shown, out = console(terminal=True)
    print_summary(SUMMARY, shown)
    lines = [line.rstrip() for line in out.getvalue().splitlines()]
    # A list one entry a line; a value that looks like markup shown as it is.
    assert lines[2].split() == ["faults", "04.00h", "L0029", "reboots", "[at", "1970]"]
    assert lines[3].split() == ["15.50h", "broker", "restart"]
    assert lines[4].split()[:2] == ["alarms_at_central", "site_offline:"]


def test_the_live_view_is_a_plain_line_off_a_terminal() -> None:
    lines: list[str] = []
    shown, out = console(terminal=False)
    LiveView(lines.append, shown).show(HOUR)
    LiveView(lines.append).show(HOUR)  # no console at all: plain too
    assert lines == [HOUR.line(), HOUR.line()]
    assert out.getvalue() == ""
    assert lines[0] == (
        "sim 05.00h | events 1234 (57/s) | sites online 209/210 | occupied 40/300 | "
        "open alarms: slot_fault 2 | parcels: assigned 10, collected 3"
    )


def test_the_live_view_is_a_table_on_a_terminal_with_one_header() -> None:
    lines: list[str] = []
    shown, out = console(terminal=True)
    view = LiveView(lines.append, shown)
    view.show(HOUR)
    view.show(HOUR)
    text = out.getvalue()
    assert lines == []
    assert text.count("parcels at central") == 1  # the header, once
    assert text.count("209/210") == 2 and text.count("assigned 10, collected 3") == 2
