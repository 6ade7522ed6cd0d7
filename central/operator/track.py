"""`lockernet track LABEL`: where a parcel is and how it got there, never its consumer's
contact."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.text import Text

from central.errors import UnknownParcel
from central.operator.console import plain_text, table
from central.store import StoreView
from protocols.localtime import timestamp


@dataclass(frozen=True)
class TimelineStep:
    at: float
    step: str
    state: str
    source: str
    detail: str | None


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


def timeline(view: StoreView, label: str) -> Timeline:
    """The parcel's timeline; UnknownParcel if central has never heard of `label`."""
    record = view.get_parcel(label)
    if record is None:
        raise UnknownParcel(label)
    steps = tuple(
        TimelineStep(s.at, s.step, s.after, s.source, s.detail) for s in view.steps(label)
    )
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
    )


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
        f"  dispatched {_when(view.dispatched_at)}, pickup by {_when(view.pickup_expires_at)},"
        f" pickup codes issued {view.codes_issued}\n"
    )
    steps = table("when", "step", "state after", "source", "detail")
    for step in view.steps:
        steps.add_row(_when(step.at), step.step, step.state, step.source, step.detail or "")
    return Group(facts, steps)


def format_timeline(view: Timeline) -> str:
    """`render_timeline` as plain text."""
    return plain_text(render_timeline(view))
