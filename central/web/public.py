"""Public tracking: what a consumer may see of their parcel, with no login.

    GET /track/{label}        an HTML page (times in Singapore local time)
    GET /api/track/{label}    the same as JSON

Shown: the cross-border milestones (what, where and when) and the steps a consumer cares
about (what and when), by when each happened, and the pickup place (its name,
kind and planning area). Never shown: the consumer's contact details, the courier, codes
or the compartment. A label central does not know and a malformed one get the same 404,
so the page says nothing more about which labels exist than that one does.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, Field

from central.parcels.lifecycle import ParcelStep
from central.parcels.milestones import Milestone
from central.store import StoreView
from central.store.open import open_reader
from central.web.context import WebContext
from central.web.network_view import area_of
from protocols.errors import LabelError
from protocols.labels import parse_label
from protocols.localtime import day_and_time

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "public_templates"),
    autoescape=select_autoescape(["html"]),
)
NOT_FOUND = "We have no parcel with that tracking number. Check it against your shipping notice."

# What each step means to the consumer; steps not here (a lapsed reservation, an exception
# flagged for the operator) are the network's own business and are not shown.
PUBLIC_STEPS: dict[str, str] = {
    ParcelStep.ANNOUNCE: "The sender told us your parcel is coming",
    ParcelStep.ASSIGN: "A pickup place was chosen for your parcel",
    ParcelStep.HAND_TO_COURIER: "Out for delivery to the pickup place",
    ParcelStep.DEPOSIT: "Arrived at the pickup place: ready to collect",
    ParcelStep.NOTIFY: "Pickup code sent to you",
    ParcelStep.REMIND: "Reminder sent: collect it soon",
    ParcelStep.PICK_UP: "Collected",
    ParcelStep.EXPIRE: "Not collected in time",
    ParcelStep.REMOVE: "Taken out of the pickup place",
    ParcelStep.REDELIVER: "On its way to a pickup place again",
    ParcelStep.RETURN: "Returned to the sender",
}


# The cross-border milestones, as a consumer reads them (with the place, if reported).
PUBLIC_MILESTONES: dict[str, str] = {
    Milestone.ACCEPTED_AT_ORIGIN: "The carrier accepted your parcel abroad",
    Milestone.DISPATCHED: "Dispatched from abroad",
    Milestone.EXPORT_CUSTOMS_CLEARED: "Cleared export customs",
    Milestone.LINEHAUL_DEPARTED: "On its way to Singapore (flight or ship departed)",
    Milestone.LINEHAUL_ARRIVED: "Arrived in Singapore",
    Milestone.IMPORT_CUSTOMS_HELD: "Held by customs for inspection",
    Milestone.IMPORT_CUSTOMS_RELEASED: "Released by customs",
    Milestone.IMPORT_CUSTOMS_CLEARED: "Cleared customs in Singapore",
    Milestone.ARRIVED_AT_HUB: "At the sorting hub in Singapore",
    Milestone.HANDED_TO_PARTNER: "Handed to the delivery partner",
    Milestone.DAMAGED: "Damaged in transit: the sender has been told",
    Milestone.LOST: "Lost in transit: the sender has been told",
    Milestone.RETURNED_TO_ORIGIN: "Sent back to the sender",
}


class PublicStep(BaseModel):
    what: str
    at: float = Field(description="Unix seconds")
    local_time: str = Field(description="the same in Singapore time, as a person reads it")


class PickupPlace(BaseModel):
    name: str | None
    kind: str = Field(description="locker or counter")
    area: str | None


class TrackingOut(BaseModel):
    label: str
    status: str = Field(description="the newest step's text")
    pickup_place: PickupPlace | None
    collect_by: float | None
    collect_by_local: str | None
    steps: list[PublicStep]


def tracking(location: str, label: str) -> TrackingOut | None:
    """What the public may see of `label` (any case, spaces ignored), None if central
    does not know it or it is not a label at all."""
    try:
        wanted = parse_label(label).id
    except LabelError:
        return None
    with open_reader(location) as reader:
        view = reader.view
        parcel = view.get_parcel(wanted)
        if parcel is None or parcel.state is None:
            return None
        steps = _public_steps(view, wanted)
        site = view.get_site(parcel.site) if parcel.site else None
    place = None
    if site is not None and site.kind is not None:
        place = PickupPlace(name=site.name, kind=site.kind.value, area=area_of(site.lat, site.lon))
    # A deadline only means something while the parcel waits to be collected.
    waiting = parcel.state in ("ready_for_pickup", "reminded")
    collect_by = parcel.pickup_expires_at if waiting else None
    return TrackingOut(
        label=wanted,
        status=steps[-1].what if steps else "Expected",
        pickup_place=place,
        collect_by=collect_by,
        collect_by_local=day_and_time(collect_by) if collect_by else None,
        steps=steps,
    )


def _public_steps(view: StoreView, label: str) -> list[PublicStep]:
    """The milestones and the steps a consumer cares about, by when each happened (a
    milestone reported late still sits where it happened); never who reported them."""
    timed: list[tuple[float, int, int, str]] = [
        (m.at, 0, Milestone(m.milestone).rank, _with_place(m.milestone, m.location))
        for m in view.milestones(label)
    ]
    timed += [
        (s.at, 1, index, PUBLIC_STEPS[s.step])
        for index, s in enumerate(view.steps(label))
        if s.step in PUBLIC_STEPS
    ]
    timed.sort(key=lambda entry: entry[:3])
    return [PublicStep(what=what, at=at, local_time=day_and_time(at)) for at, _, _, what in timed]


def _with_place(milestone: str, location: str | None) -> str:
    text = PUBLIC_MILESTONES[milestone]
    return f"{text} ({location})" if location else text


def router(ctx: WebContext) -> APIRouter:
    """The public tracking routes (no login)."""
    routes = APIRouter(tags=["public"])

    @routes.get("/api/track/{label}", response_model=TrackingOut)
    def track_json(label: str) -> TrackingOut:
        """A parcel's public tracking; 404 for an unknown or malformed label alike."""
        found = tracking(ctx.reader_location, label)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=NOT_FOUND)
        return found

    @routes.get("/track/{label}", response_class=HTMLResponse)
    def track_page(label: str) -> HTMLResponse:
        """The tracking page; a 404 page that says so for an unknown or malformed label."""
        found = tracking(ctx.reader_location, label)
        if found is None:
            html = TEMPLATES.get_template("not_found.html").render(label=label, message=NOT_FOUND)
            return HTMLResponse(html, status_code=status.HTTP_404_NOT_FOUND)
        return HTMLResponse(TEMPLATES.get_template("track.html").render(t=found))

    return routes
