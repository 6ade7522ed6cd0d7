"""The simulation's report folder: summary.json and PNG charts drawn with Pillow."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

WIDTH, HEIGHT = 900, 420
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 70, 20, 40, 50
INK = (40, 40, 40)
GRID = (220, 220, 220)
LINE = (31, 119, 180)
BAR = (255, 127, 14)
HISTOGRAM_BINS = 24


def write_report(folder: Path, summary: dict[str, Any], tally: Any) -> list[Path]:
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


def _frame(title: str, xlabel: str, ylabel: str) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    draw.text((MARGIN_LEFT, 12), title, fill=INK)
    draw.text((WIDTH // 2 - 40, HEIGHT - 22), xlabel, fill=INK)
    draw.text((6, MARGIN_TOP - 18), ylabel, fill=INK)
    return image, draw


def _axes(draw: ImageDraw.ImageDraw, xmax: float, ymax: float) -> None:
    left, right = MARGIN_LEFT, WIDTH - MARGIN_RIGHT
    top, bottom = MARGIN_TOP, HEIGHT - MARGIN_BOTTOM
    for i in range(5):
        y = bottom - (bottom - top) * i / 4
        draw.line([(left, y), (right, y)], fill=GRID)
        draw.text((8, y - 6), f"{ymax * i / 4:,.0f}", fill=INK)
    for i in range(7):
        x = left + (right - left) * i / 6
        draw.text((x - 8, bottom + 6), f"{xmax * i / 6:.0f}", fill=INK)
    draw.line([(left, top), (left, bottom), (right, bottom)], fill=INK)


def _point(x: float, y: float, xmax: float, ymax: float) -> tuple[float, float]:
    left, right = MARGIN_LEFT, WIDTH - MARGIN_RIGHT
    top, bottom = MARGIN_TOP, HEIGHT - MARGIN_BOTTOM
    return (
        left + (right - left) * (x / xmax if xmax else 0),
        bottom - (bottom - top) * (y / ymax if ymax else 0),
    )


def _line_chart(
    path: Path, title: str, points: Sequence[tuple[float, float]], xlabel: str, ylabel: str
) -> Path:
    image, draw = _frame(title, xlabel, ylabel)
    xmax = max([24.0, *(p[0] for p in points)])
    ymax = max([1.0, *(p[1] for p in points)]) * 1.1
    _axes(draw, xmax, ymax)
    if len(points) > 1:
        draw.line([_point(x, y, xmax, ymax) for x, y in points], fill=LINE, width=2)
    image.save(path, "PNG")
    return path


def _histogram(path: Path, title: str, values: Sequence[float], xlabel: str, ylabel: str) -> Path:
    bins = HISTOGRAM_BINS
    image, draw = _frame(title, xlabel, ylabel)
    xmax = max([1.0, *values])
    counts = [0] * bins
    for value in values:
        # Clamped: a time from a site whose clock was wrong (a field fault) can fall
        # outside the chart; it is counted in the end bin, not dropped, not a crash.
        counts[max(0, min(bins - 1, int(value / xmax * bins)))] += 1
    ymax = max([1, *counts]) * 1.1
    _axes(draw, xmax, ymax)
    for i, count in enumerate(counts):
        x0, y0 = _point(xmax * i / bins, count, xmax, ymax)
        x1, y1 = _point(xmax * (i + 1) / bins, 0, xmax, ymax)
        draw.rectangle([x0 + 1, y0, x1 - 1, y1], fill=BAR)
    image.save(path, "PNG")
    return path
