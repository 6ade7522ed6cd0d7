"""`lockernet parcels events FILE`: record a partner's or carrier's milestone feed by hand,
as the file drop would (central/parcels/milestone_feed.py)."""

from __future__ import annotations

from pathlib import Path

from central.parcels.milestone_feed import FeedOutcome


def describe_outcome(path: Path, outcome: FeedOutcome) -> tuple[str, list[str]]:
    """The summary line for stdout, and one line per bad field for stderr (each naming the
    file, row and field)."""
    summary = (
        f"{path.name}: {outcome.recorded} milestone(s) recorded, "
        f"{outcome.repeated} repeat(s) ignored (recorded before)"
    )
    if outcome.errors:
        bad_rows = len({error.row for error in outcome.errors})
        summary += f"; {bad_rows} bad row(s) not recorded"
    return summary, [f"error: {path}: {error}" for error in outcome.errors]
