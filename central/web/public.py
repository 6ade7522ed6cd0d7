"""Public tracking: what a consumer may see of their parcel, with no login.

    GET /track/{label}        an HTML page (times in Singapore local time)
    GET /api/track/{label}    the same as JSON

Shown: the steps a consumer cares about (what and when) and the pickup place (its name,
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
        steps = [
            PublicStep(what=PUBLIC_STEPS[s.step], at=s.at, local_time=day_and_time(s.at))
            for s in view.steps(wanted)
            if s.step in PUBLIC_STEPS
        ]
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
