"""`lockernet track LABEL`: where a parcel is and how it got there, never its consumer's
contact."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.text import Text

from central.errors import UnknownParcel
from central.operator.console import plain_text, table
from central.parcels.lifecycle import ParcelState, ParcelStep
from central.parcels.milestones import Milestone
from central.store import StoreView
from protocols.localtime import timestamp


@dataclass(frozen=True)
class TimelineStep:
    """One line of the journey: a step central took (`kind` "step": `step` a ParcelStep
    value) or a cross-border milestone reported (`kind` "milestone": `step` a Milestone
    value, `state` the parcel's state when central heard it, `location` where it was)."""

    at: float
    step: str
    state: str
    source: str
    detail: str | None
    location: str | None = None
    kind: str = "step"


@dataclass(frozen=True)
class Timeline:
    """What `lockernet track` shows: where the parcel is and how it got there.

    Built field by field, never from the whole record, so no contact detail can leak in.
    """

    label: str
    state: str
    size: str | None
    delivery_point: str | None
    slot: str | None
    partner: str | None
    courier: str | None
    dispatched_at: float | None
    pickup_expires_at: float | None
    steps: tuple[TimelineStep, ...]
    codes_issued: int
    milestone: str | None = None  # the furthest cross-border milestone reached


def timeline(view: StoreView, label: str) -> Timeline:
    """The parcel's timeline; UnknownParcel if central has never heard of `label`."""
    record = view.get_parcel(label)
    if record is None:
        raise UnknownParcel(label)
    steps = journey(view, label)
    return Timeline(
        label=record.label,
        state=record.state or "unknown",
        size=record.size,
        delivery_point=record.site,
        slot=record.slot,
        partner=record.partner,
        courier=record.courier,
        dispatched_at=record.dispatched_at,
        pickup_expires_at=record.pickup_expires_at,
        steps=steps,
        codes_issued=len(view.codes(label)),
        milestone=record.milestone,
    )


def journey(view: StoreView, label: str) -> tuple[TimelineStep, ...]:
    """The parcel's milestones and central's own steps, merged by when each happened (a
    milestone reported late still sits where it happened; at one moment milestones come in
    journey order, then steps in the order taken). A milestone's MILESTONE step is not
    listed twice: the milestone's line stands for it, with its earliest time and source."""
    steps = view.steps(label)
    heard_while: dict[str, str] = {}
    for step in steps:
        if step.step == ParcelStep.MILESTONE and step.detail:
            heard_while.setdefault(step.detail.split(" ", 1)[0], step.after)
    lines: list[tuple[float, int, int, TimelineStep]] = []
    for m in view.milestones(label):
        line = TimelineStep(
            m.at,
            m.milestone,
            heard_while.get(m.milestone, ParcelState.IN_TRANSIT),
            m.source,
            m.detail,
            m.location,
            "milestone",
        )
        lines.append((m.at, 0, Milestone(m.milestone).rank, line))
    for index, s in enumerate(steps):
        if s.step != ParcelStep.MILESTONE:
            line = TimelineStep(s.at, s.step, s.after, s.source, s.detail)
            lines.append((s.at, 1, index, line))
    lines.sort(key=lambda entry: entry[:3])
    return tuple(entry[3] for entry in lines)


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return timestamp(ts)  # the network's local time, as a person there reads it


def render_timeline(view: Timeline) -> RenderableType:
    """The parcel's facts, then a table of its steps, oldest first."""
    facts = Text(
        f"parcel {view.label}: {view.state}\n"
        f"  size {view.size or '-'}, delivery point {view.delivery_point or '-'}"
        + (f" slot {view.slot}" if view.slot else "")
        + f"\n  partner {view.partner or '-'}, courier {view.courier or '-'}\n"
        f"  dispatched {_when(view.dispatched_at)}, furthest milestone {view.milestone or '-'}"
        f"\n  pickup by {_when(view.pickup_expires_at)},"
        f" pickup codes issued {view.codes_issued}\n"
    )
    steps = table("when", "step", "state after", "where", "source", "detail")
    for step in view.steps:
        what = f"milestone {step.step}" if step.kind == "milestone" else step.step
        where = step.location or ""
        steps.add_row(_when(step.at), what, step.state, where, step.source, step.detail or "")
    return Group(facts, steps)


def format_timeline(view: Timeline) -> str:
    """`render_timeline` as plain text."""
    return plain_text(render_timeline(view))
