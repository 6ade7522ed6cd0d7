"""The simulation's report folder: summary.json and three PNG charts drawn with matplotlib
(locker occupancy and events per second through the day, time from deposit to pickup).

Charts are drawn on a bare `matplotlib.figure.Figure`, which renders PNG with the Agg
backend: no pyplot, no global state, no display needed (CI, a server).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from hw_sim.network.tally import Tally

SIZE_IN = (9.0, 4.2)  # inches; at DPI, the 900 x 420 pixels the charts always had
DPI = 100
LINE = "#1f77b4"
BAR = "#ff7f0e"
HISTOGRAM_BINS = 24
DAY_HOURS = 24.0  # the x axis of a chart through the day spans at least a day


def write_report(folder: Path, summary: dict[str, Any], tally: Tally) -> list[Path]:
    """Write summary.json, occupancy.png, events_per_second.png and deposit_to_pickup.png
    into `folder` (made if missing); returns their paths in that order. Raises OSError if
    the folder cannot be written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    path = folder / "summary.json"
    path.write_text(json.dumps(summary, indent=2) + "\n")
    written.append(path)
    occupancy = [(h, 100.0 * used / total if total else 0.0) for h, used, total in tally.occupancy]
    written.append(
        _line_chart(
            folder / "occupancy.png",
            "Locker occupancy through the day (%)",
            occupancy,
            "simulated hour",
            "% of compartments occupied",
        )
    )
    written.append(
        _line_chart(
            folder / "events_per_second.png",
            "Events per second (wall clock)",
            tally.events_per_s,
            "simulated hour",
            "events / s",
        )
    )
    written.append(
        _histogram(
            folder / "deposit_to_pickup.png",
            "Time from deposit to pickup",
            tally.deposit_to_pickup_h,
            "hours",
            "parcels",
        )
    )
    return written


def _figure(title: str, xlabel: str, ylabel: str) -> tuple[Figure, Any]:
    figure = Figure(figsize=SIZE_IN, dpi=DPI, layout="tight")
    axes = figure.subplots()
    axes.set_title(title, loc="left")
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(axis="y", color="#dcdcdc")
    axes.set_axisbelow(True)
    return figure, axes


def _line_chart(
    path: Path, title: str, points: Sequence[tuple[float, float]], xlabel: str, ylabel: str
) -> Path:
    figure, axes = _figure(title, xlabel, ylabel)
    axes.set_xlim(0, max([DAY_HOURS, *(p[0] for p in points)]))
    axes.set_ylim(0, max([1.0, *(p[1] for p in points)]) * 1.1)
    if points:
        axes.plot([p[0] for p in points], [p[1] for p in points], color=LINE, linewidth=2)
    figure.savefig(path, format="png")
    return path


def _histogram(path: Path, title: str, values: Sequence[float], xlabel: str, ylabel: str) -> Path:
    figure, axes = _figure(title, xlabel, ylabel)
    xmax = max([1.0, *values])
    # Clamped: a time from a site whose clock was wrong (a field fault) can fall outside
    # the chart; it is counted in the end bin, not dropped, not a crash.
    clamped = [min(max(value, 0.0), xmax) for value in values]
    axes.hist(clamped, bins=HISTOGRAM_BINS, range=(0.0, xmax), color=BAR, rwidth=0.9)
    axes.set_xlim(0, xmax)
    figure.savefig(path, format="png")
    return path
