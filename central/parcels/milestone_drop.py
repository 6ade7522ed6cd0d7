"""The milestone file drop: a folder (`[milestones] drop_folder` in central.toml) where
partners and carriers leave feed files (.csv or .json, central/parcels/milestone_feed.py).

Central's timer takes each file in it, records it, and moves it away: to `done/` when every
row was good, else to `rejected/` beside a `NAME.errors.txt` that lists the bad rows (the
good rows of such a file were recorded: send the corrected file again whole, its repeats
change nothing). A file that is no feed at all goes to `rejected/` too, its errors file
saying why. A sender writes a file under another name (e.g. `feed.csv.part`) and renames it
when complete: only names ending .csv or .json are taken, so a half-written one never is.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from central.parcels.milestone_feed import FeedOutcome, MilestoneFeedError, record_feed
from central.store import CentralStore

log = logging.getLogger(__name__)

DONE = "done"
REJECTED = "rejected"
FEED_SUFFIXES = (".csv", ".json")


@dataclass(frozen=True)
class DropResult:
    """One file taken: where it went (`moved_to`) and what recording it did (None: it was
    not a feed at all, `problem` says why)."""

    name: str
    moved_to: Path
    outcome: FeedOutcome | None
    problem: str | None = None


def take_drops(store: CentralStore, folder: Path, now: float) -> list[DropResult]:
    """Record and move away every feed file in `folder` (not its subfolders), oldest name
    first; `now` is central's time (Unix s). A folder that does not exist yet is empty."""
    try:
        names = sorted(
            entry.name
            for entry in os.scandir(folder)
            if entry.is_file() and entry.name.lower().endswith(FEED_SUFFIXES)
        )
    except FileNotFoundError:
        return []
    return [_take(store, folder / name, now) for name in names]


def _take(store: CentralStore, path: Path, now: float) -> DropResult:
    try:
        outcome = record_feed(store, path, now)
    except MilestoneFeedError as exc:
        problem = str(exc)
        moved = _move(path, REJECTED)
        _write_errors(moved, [problem])
        log.warning("milestone file %s refused: %s", path.name, problem)
        return DropResult(path.name, moved, None, problem)
    if not outcome.errors:
        moved = _move(path, DONE)
        log.info(
            "milestone file %s: %d recorded, %d repeats",
            path.name,
            outcome.recorded,
            outcome.repeated,
        )
        return DropResult(path.name, moved, outcome)
    moved = _move(path, REJECTED)
    bad_rows = len({error.row for error in outcome.errors})
    lines = [
        f"{path.name}: {bad_rows} bad row(s), not recorded; the other rows were "
        f"({outcome.recorded} recorded, {outcome.repeated} repeats). Correct the rows and "
        "drop the whole file again: rows already recorded change nothing.",
        *(str(error) for error in outcome.errors),
    ]
    _write_errors(moved, lines)
    log.warning("milestone file %s: %d bad row(s), see %s", path.name, bad_rows, moved.parent)
    return DropResult(path.name, moved, outcome)


def _move(path: Path, into: str) -> Path:
    """Move `path` into its folder's `into` subfolder, never over an earlier file of that
    name (a partner sends feed.csv every hour): a repeat gets a number."""
    target_folder = path.parent / into
    target_folder.mkdir(exist_ok=True)
    target = target_folder / path.name
    number = 1
    while target.exists():
        target = target_folder / f"{path.stem}.{number}{path.suffix}"
        number += 1
    os.replace(path, target)
    return target


def _write_errors(moved: Path, lines: list[str]) -> None:
    errors = moved.with_name(moved.name + ".errors.txt")
    errors.write_text("\n".join(lines) + "\n", encoding="utf-8")
