"""Milestone feeds from partners and carriers: CSV or JSON files (the file drop, `lockernet
parcels events FILE`) and the partner API's JSON, checked row by row.

A feed row is one fact: `label`, `milestone` (a Milestone value), `at` (when it happened:
Unix seconds or ISO 8601 with its zone), and optionally `location` (where, as the carrier
names it), `detail` and `carrier` (who scanned it, for the source).

Good rows are recorded and bad rows are listed, each by row and field, changing nothing.
Not all-or-nothing as a manifest is: every row is an independent fact that a carrier's feed
repeats, so one bad scan must not hold up the tracking of thousands of parcels; and since
recording is idempotent, the corrected file can be sent again whole (its good rows are
nothing new the second time). A file that is not a feed at all (not CSV or JSON, a missing
column) is refused whole with a MilestoneFeedError naming it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from central.errors import CentralError
from central.parcels.manifest import RowError, unix_time
from central.parcels.milestone_events import (
    ChunkReads,
    finish_chunk,
    read_chunk,
    record_milestone,
)
from central.parcels.milestones import Milestone
from central.store import CentralStore
from protocols.limits import IDENT_PATTERN, TEXT_MAX_CHARS
from protocols.messages import LabelId

FIELDS: tuple[str, ...] = ("label", "milestone", "at", "location", "detail", "carrier")
REQUIRED_FIELDS: tuple[str, ...] = ("label", "milestone", "at")
# A carrier's scanner clock may run a little ahead of central's; further ahead than this,
# the time is a mistake (a wrong zone, a typo) and the row is refused.
MAX_FUTURE_SKEW_S = 15 * 60.0
MAX_FEED_BYTES = 256 * 1024 * 1024
# Rows recorded per transaction: a day's feed is hundreds of thousands of rows, and ingest
# waits for the store's writer between chunks (about 0.3 s of writes each on SQLite).
RECORD_CHUNK = 500


class MilestoneFeedError(CentralError, ValueError):
    """A feed that cannot be read at all; the message names the file and what is wrong."""


def _empty_is_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _event_time(value: Any) -> Any:
    """Unix seconds, or ISO 8601 with its zone (e.g. 2026-03-01T08:00:00+08:00)."""
    return unix_time(value, what="the time")


Place = Annotated[str, StringConstraints(min_length=1, max_length=80)]
Words = Annotated[str, StringConstraints(min_length=1, max_length=TEXT_MAX_CHARS)]
Carrier = Annotated[str, StringConstraints(pattern=IDENT_PATTERN)]


class MilestoneReport(BaseModel):
    """One row of a feed: a parcel passed a milestone at a time, maybe somewhere."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    label: LabelId
    milestone: Milestone
    at: Annotated[float, BeforeValidator(_event_time), Field(ge=0, allow_inf_nan=False)]
    location: Annotated[Place | None, BeforeValidator(_empty_is_none)] = None
    detail: Annotated[Words | None, BeforeValidator(_empty_is_none)] = None
    carrier: Annotated[Carrier | None, BeforeValidator(_empty_is_none)] = None


@dataclass(frozen=True)
class CheckedFeed:
    """A feed's good rows (`reports`: (row number from 1, report)) and its bad fields."""

    reports: list[tuple[int, MilestoneReport]]
    errors: list[RowError]


@dataclass
class FeedOutcome:
    """What recording a feed did: milestones new (or moved earlier), repeats ignored, and
    the bad rows (nothing of them recorded)."""

    recorded: int = 0
    repeated: int = 0
    errors: list[RowError] = field(default_factory=list)


@dataclass(frozen=True)
class _Ragged:
    """A CSV row with more or fewer cells than its header."""

    cells: str
    line: int


def check_reports(rows: Sequence[Any], now: float) -> CheckedFeed:
    """Validate feed rows (dicts of FIELDS; at most MAX_FUTURE_SKEW_S past `now`, Unix s).
    Every bad field of every bad row is listed; the good rows are returned to record."""
    reports: list[tuple[int, MilestoneReport]] = []
    errors: list[RowError] = []
    for number, row in enumerate(rows, start=1):
        if isinstance(row, _Ragged):
            message = f"line {row.line}: has {row.cells} cells than the header"
            errors.append(RowError(number, "(row)", message))
            continue
        if not isinstance(row, dict):
            errors.append(RowError(number, "(row)", "a milestone is an object"))
            continue
        try:
            report = MilestoneReport.model_validate(row)
        except ValidationError as exc:
            for error in exc.errors():
                name = ".".join(str(part) for part in error["loc"]) or "(row)"
                shown = f" (got {repr(row[name])[:60]})" if name in row else ""
                errors.append(RowError(number, name, f"{error['msg']}{shown}"))
            continue
        if report.at > now + MAX_FUTURE_SKEW_S:
            ahead = (report.at - now) / 3600
            message = f"{ahead:.1f} hours in the future (a wrong time zone?)"
            errors.append(RowError(number, "at", message))
            continue
        reports.append((number, report))
    return CheckedFeed(reports, errors)


def read_feed(path: str | Path, now: float) -> CheckedFeed:
    """The rows of a .csv or .json feed, checked (see check_reports); MilestoneFeedError if
    the file cannot be read as a feed at all (then nothing of it counts)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise MilestoneFeedError(f"{path}: a feed is a .csv or .json file, not {suffix or 'none'}")
    try:
        if path.stat().st_size > MAX_FEED_BYTES:
            raise MilestoneFeedError(f"{path}: larger than {MAX_FEED_BYTES} bytes")
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise MilestoneFeedError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise MilestoneFeedError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    rows = _csv_rows(path, text) if suffix == ".csv" else _json_rows(path, text)
    return check_reports(rows, now)


def _csv_rows(path: Path, text: str) -> list[Any]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    missing = [name for name in REQUIRED_FIELDS if name not in header]
    if missing:
        raise MilestoneFeedError(f"{path}: header lacks column(s) {', '.join(missing)}")
    unknown = [name for name in header if name not in FIELDS]
    if unknown:
        raise MilestoneFeedError(f"{path}: unknown column(s) {', '.join(unknown)}")
    rows: list[Any] = []
    try:
        for row in reader:
            if None in row or any(value is None for value in row.values()):
                # A ragged row is one bad row, not a bad file: the rest are still facts.
                rows.append(_Ragged("more" if None in row else "fewer", reader.line_num))
            else:
                rows.append(dict(row))
    except csv.Error as exc:
        raise MilestoneFeedError(f"{path}: line {reader.line_num}: {exc}") from None
    return rows


def _json_rows(path: Path, text: str) -> list[Any]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MilestoneFeedError(f"{path}: not JSON: {exc.msg} at line {exc.lineno}") from None
    if isinstance(document, dict) and "milestones" in document:
        document = document["milestones"]
    if not isinstance(document, list):
        raise MilestoneFeedError(
            f'{path}: expected a list of milestones or {{"milestones": [...]}}'
        )
    return document


def report_source(origin: str, row: int | None, report: MilestoneReport) -> str:
    """Who said so: `origin` ("file NAME", "partner ID"), its row, and the carrier named."""
    where = origin if row is None else f"{origin} row {row}"
    return where if report.carrier is None else f"{where} (carrier {report.carrier})"


def record_reports(
    store: CentralStore,
    reports: Sequence[tuple[int, MilestoneReport]],
    origin: str,
    now: float,
    *,
    owner: str | None = None,
) -> FeedOutcome:
    """Record checked reports (from check_reports or read_feed), RECORD_CHUNK per
    transaction; `origin` names the feed for each milestone's source, `owner` the partner
    a parcel first heard of here belongs to. Returns the counts (errors left empty)."""
    outcome = FeedOutcome()
    for start in range(0, len(reports), RECORD_CHUNK):
        chunk = reports[start : start + RECORD_CHUNK]
        with store.transaction() as session:
            # The chunk's parcels held and their milestones read in one query each (not
            # two round trips per row on PostgreSQL), then recorded against what was read.
            known = None
            if isinstance(session, ChunkReads):
                known = read_chunk(session, (r.label for _, r in chunk), now, owner)
            for row, report in chunk:
                new = record_milestone(
                    session,
                    report.label,
                    report.milestone,
                    at=report.at,
                    source=report_source(origin, row, report),
                    now=now,
                    location=report.location,
                    detail=report.detail,
                    owner=owner,
                    known=known,
                )
                if new:
                    outcome.recorded += 1
                else:
                    outcome.repeated += 1
            if known is not None and isinstance(session, ChunkReads):
                finish_chunk(session, known)
    return outcome


def record_feed(store: CentralStore, path: str | Path, now: float) -> FeedOutcome:
    """Check and record a feed file (sources "file NAME row N"): its good rows recorded, its
    bad rows in the outcome's errors. MilestoneFeedError if it is not a feed at all."""
    path = Path(path)
    checked = read_feed(path, now)
    outcome = record_reports(store, checked.reports, f"file {path.name}", now)
    outcome.errors = checked.errors
    return outcome
