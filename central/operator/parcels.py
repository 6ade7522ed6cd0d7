"""`lockernet parcels import`: what a manifest's import came to (announced, placed where,
couriers assigned)."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from central.capacity.reservations import WaveResult
from central.operator.console import table


def render_announced(new: int, known: int) -> RenderableType:
    """How many of the manifest's parcels were new to central."""
    return Text(f"announced {new} parcel(s); {known} already known")


def render_placed(wave: WaveResult) -> RenderableType:
    """Where the wave's parcels were placed, and how many got a courier."""
    counts = table("placed", "parcels", numeric=("parcels",))
    for what, count in (
        ("lockers", wave.lockers),
        ("collection points", wave.counters),
        ("home delivery", wave.home),
    ):
        counts.add_row(what, str(count))
    couriers = Text(
        f"placed {wave.placed}; couriers assigned {wave.couriers_assigned}, "
        f"without a courier {wave.without_courier}"
    )
    return Group(counts, couriers)
