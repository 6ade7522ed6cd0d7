"""The carriers' milestone feed of a simulated day: before a wave of parcels is announced,
central hears where a sample of them has been since their overseas dispatch, as a real
carrier's feed tells it: some milestones twice, some parcels' milestones in reverse order,
a few parcels held at customs for a while.

Only a sample of each wave: recording a milestone costs central a few writes, and a
full day's feed (200,000 parcels, eight milestones each) would hold up the wave's placement
for minutes of the compressed day; a sample exercises every rule the same way.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from central.parcels.manifest import ParcelAnnouncement
from central.parcels.milestone_feed import MilestoneReport
from central.parcels.milestones import Milestone

# Parcels of a wave whose journey is fed (the rest are known from the manifest only).
SAMPLE_PER_WAVE = 250
# Of those: a milestone reported twice, the whole journey reported newest first, held at
# import customs (then released).
REPEAT_SHARE = 0.2
REVERSED_SHARE = 0.2
CUSTOMS_HOLD_SHARE = 0.05
# Where each milestone falls between dispatch (0) and the wave's announcement (1).
JOURNEY: tuple[tuple[Milestone, float], ...] = (
    (Milestone.ACCEPTED_AT_ORIGIN, -0.05),
    (Milestone.DISPATCHED, 0.0),
    (Milestone.EXPORT_CUSTOMS_CLEARED, 0.1),
    (Milestone.LINEHAUL_DEPARTED, 0.2),
    (Milestone.LINEHAUL_ARRIVED, 0.5),
    (Milestone.IMPORT_CUSTOMS_CLEARED, 0.62),
    (Milestone.ARRIVED_AT_HUB, 0.8),
    (Milestone.HANDED_TO_PARTNER, 0.95),
)
HOLD: tuple[tuple[Milestone, float], ...] = (
    (Milestone.IMPORT_CUSTOMS_HELD, 0.54),
    (Milestone.IMPORT_CUSTOMS_RELEASED, 0.6),
)
AIRPORTS = ("PVG", "SZX", "ICN", "NRT", "KUL", "CGK", "BKK", "FRA", "LAX", "SYD")


def carrier_reports(
    wave: Sequence[ParcelAnnouncement], now: float, seed: str
) -> list[tuple[int, MilestoneReport]]:
    """The feed's rows (numbered from 1) for a sample of `wave` announced at `now` (Unix s):
    each sampled parcel's journey from its dispatch time to just before `now`."""
    rng = random.Random(seed)  # noqa: S311 - a seeded, repeatable model, not a secret
    sample = rng.sample(list(wave), min(SAMPLE_PER_WAVE, len(wave)))
    rows: list[MilestoneReport] = []
    for parcel in sample:
        journey = list(JOURNEY)
        if rng.random() < CUSTOMS_HOLD_SHARE:
            journey = sorted([*journey, *HOLD], key=lambda step: step[1])
        span = max(now - parcel.dispatched_at, 1.0)
        origin = rng.choice(AIRPORTS)
        reports = [
            MilestoneReport(
                label=parcel.label,
                milestone=milestone,
                at=round(parcel.dispatched_at + share * span, 3),
                location=origin if share <= 0.2 else "SIN",
                carrier="sim-air",
            )
            for milestone, share in journey
        ]
        if rng.random() < REVERSED_SHARE:
            reports.reverse()
        if rng.random() < REPEAT_SHARE:
            reports.append(rng.choice(reports))
        rows += reports
    return list(enumerate(rows, start=1))
