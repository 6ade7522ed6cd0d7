"""`lockernet sla`: how well the network keeps its promise.

A parcel counts once its promise is decided: *met* (ready for pickup or delivered before
its deadline) or *breached* (the deadline passed first). Parcels are counted on the day
their deadline falls (the network's local day, Asia/Singapore), so a day's figures are the
parcels that were due that day. The share within the promise is met / (met + breached),
per last-mile partner, per site (a home delivery counts under "home") and per day; each
breach is put down to the milestone or state the parcel was at when its deadline passed
(central/parcels/promise.py), the place its time was lost.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text

from central.operator.console import table
from central.store import StoreView
from central.store.queries.promise import PromiseOutcome
from protocols.localtime import NETWORK_ZONE, local_datetime

# Where a parcel without a partner or site is counted.
NO_PARTNER = "(no partner)"
HOME = "home"
NO_SITE = "(no site)"


@dataclass(frozen=True)
class Share:
    """Parcels of one partner, site or day (`key`) whose promise is decided."""

    key: str
    met: int
    breached: int

    @property
    def decided(self) -> int:
        return self.met + self.breached

    @property
    def share(self) -> float | None:
        """met / decided, 0..1; None when nothing is decided."""
        return self.met / self.decided if self.decided else None

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "met": self.met,
            "breached": self.breached,
            "within_promise_share": None if self.share is None else round(self.share, 4),
        }


@dataclass(frozen=True)
class SlaReport:
    """The promise kept: overall, per partner, per site, per day; breaches by cause."""

    day: date | None  # the one day reported, or None: every day
    total: Share
    partners: list[Share]
    sites: list[Share]
    days: list[Share]
    causes: list[tuple[str, int]]  # (milestone or state, breaches), most first

    def as_json(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat() if self.day else None,
            "total": self.total.as_json(),
            "partners": [s.as_json() for s in self.partners],
            "sites": [s.as_json() for s in self.sites],
            "days": [s.as_json() for s in self.days],
            "breach_causes": [{"cause": c, "breached": n} for c, n in self.causes],
        }


def day_bounds(day: date) -> tuple[float, float]:
    """The network's local `day` as [start, end) in Unix seconds."""
    start = datetime(day.year, day.month, day.day, tzinfo=NETWORK_ZONE)
    return start.timestamp(), (start + timedelta(days=1)).timestamp()


def sla_report(view: StoreView, day: date | None = None) -> SlaReport:
    """The report over the parcels due on `day` (every decided parcel when None)."""
    since, until = day_bounds(day) if day is not None else (None, None)
    return summarise(view.promise_outcomes(since, until), day)


def summarise(outcomes: Iterable[PromiseOutcome], day: date | None = None) -> SlaReport:
    """The report over decided outcomes (met or breached)."""
    rows = list(outcomes)
    causes = Counter(o.cause or "unknown" for o in rows if o.sla_state == "breached")
    return SlaReport(
        day=day,
        total=_shares(rows, lambda o: "all")[0] if rows else Share("all", 0, 0),
        partners=_shares(rows, lambda o: o.partner or o.owner or NO_PARTNER),
        sites=_shares(rows, _site_of),
        days=_shares(rows, lambda o: local_datetime(o.deadline_at).date().isoformat()),
        causes=sorted(causes.items(), key=lambda item: (-item[1], item[0])),
    )


def _site_of(outcome: PromiseOutcome) -> str:
    if outcome.site is not None:
        return outcome.site
    return HOME if outcome.delivery_mode == HOME else NO_SITE


def _shares(rows: list[PromiseOutcome], key: Any) -> list[Share]:
    met: Counter[str] = Counter()
    breached: Counter[str] = Counter()
    for row in rows:
        (met if row.sla_state == "met" else breached)[key(row)] += 1
    return [Share(k, met[k], breached[k]) for k in sorted(set(met) | set(breached))]


def render_sla(report: SlaReport, sites_shown: int = 20) -> RenderableType:
    """The report as tables: partners, the sites that kept it worst, days, causes."""
    scope = f"due on {report.day.isoformat()}" if report.day else "every day"
    if not report.total.decided:
        return Text(f"no parcel's promise is decided yet ({scope})")
    head = Text(
        f"within the promise: {_percent(report.total)} of {report.total.decided} parcels "
        f"({report.total.met} met, {report.total.breached} breached), {scope}"
    )
    worst = sorted(report.sites, key=lambda s: (s.share or 0.0, -s.decided, s.key))
    parts: list[RenderableType] = [
        head,
        _table("partner", report.partners),
        _table("site", worst[:sites_shown]),
    ]
    if len(report.sites) > sites_shown:
        parts.append(Text(f"(the {sites_shown} worst of {len(report.sites)} sites; --json: all)"))
    parts.append(_table("day", report.days))
    if report.causes:
        causes = table("time lost at", "breached", numeric=("breached",))
        for cause, count in report.causes:
            causes.add_row(cause, str(count))
        parts.append(causes)
    return Group(*parts)


def _table(title: str, shares: list[Share]) -> RenderableType:
    grid = table(
        title,
        "parcels",
        "met",
        "breached",
        "within",
        numeric=("parcels", "met", "breached", "within"),
    )
    for s in shares:
        grid.add_row(s.key, str(s.decided), str(s.met), str(s.breached), _percent(s))
    return grid


def _percent(share: Share) -> str:
    return "-" if share.share is None else f"{100 * share.share:.1f}%"
