"""`lockernet alarms`: the alarms still open, oldest first (acknowledging one is a write:
central/sites/alarms.py)."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import RenderableType
from rich.text import Text

from central.operator.console import plain_text, table
from central.store import StoreView
from protocols.localtime import timestamp


@dataclass(frozen=True)
class AlarmLine:
    id: int
    site: str
    kind: str
    ref: str
    opened_at: float
    detail: str | None
    acked_by: str | None


def open_alarms(view: StoreView) -> list[AlarmLine]:
    """Every open alarm, in the order they were raised."""
    return [
        AlarmLine(a.id or 0, a.site, a.kind, a.ref, a.opened_at, a.detail, a.acked_by)
        for a in view.list_alarms()
    ]


def render_alarms(alarms: list[AlarmLine]) -> RenderableType:
    """A table of the alarms (opened in the network's local time), or a line saying there
    are none."""
    if not alarms:
        return Text("no open alarms")
    lines = table("id", "opened", "site", "kind", "ref", "detail", numeric=("id",))
    for a in alarms:
        opened = timestamp(a.opened_at)
        detail = a.detail or ""
        if a.acked_by:
            detail = f"{detail} [acked by {a.acked_by}]".strip()
        lines.add_row(str(a.id), opened, a.site, a.kind, a.ref, detail)
    return lines


def format_alarms(alarms: list[AlarmLine]) -> str:
    """`render_alarms` as plain text."""
    return plain_text(render_alarms(alarms))
