"""The consumer's choice link after a failed home delivery (central/delivery/choice.py), with
no login: the link's token is the consumer's only credential.

    GET  /choose/{label}/{token}        the page: sites near the address with room, a button each
    POST /choose/{label}/{token}        the page's form (field `site`): chosen, then the page again
    GET  /api/choose/{label}/{token}    the same as JSON
    POST /api/choose/{label}/{token}    {"site": "L0001"}: the parcel goes there now

Answers: 404 for a link central did not make (a forged token, another parcel's, no such
parcel: alike); 410 once the window ended or the parcel was redirected, returned or sent out
again; 409 when the chosen site has no room any more (another may be chosen); 422 for a site
that is not near the address; 503 when the site stayed busy or the link key cannot be read.
Each refusal changes nothing. Only POST changes anything (a GET, a link preview or a
crawler following the link, never chooses); the same choice posted twice answers the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi import APIRouter, Form, HTTPException, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, Field

from central.delivery.choice import PATH, Choices, Chosen, Offer, SiteOption, window_of
from central.delivery.errors import (
    ChoiceBusy,
    ChoiceClosed,
    ChoiceError,
    NoRoom,
    NotOffered,
    UnknownLink,
)
from central.errors import ConfigError
from central.notify.unsubscribe import link_key
from central.web.context import WebContext

# The choice's own pages, on the public tracking pages' base (central/web/public_templates).
TEMPLATES = Environment(
    loader=ChoiceLoader(
        [
            FileSystemLoader(Path(__file__).parent / "choice_templates"),
            FileSystemLoader(Path(__file__).parents[1] / "web" / "public_templates"),
        ]
    ),
    autoescape=select_autoescape(["html"]),
)
MAX_SITE_ID = 64
# The pages show live state (room at the sites, the choice made): never from a cache.
NO_STORE = {"Cache-Control": "no-store"}
_STATUS: tuple[tuple[type[ChoiceError], int], ...] = (
    (UnknownLink, status.HTTP_404_NOT_FOUND),
    (ChoiceClosed, status.HTTP_410_GONE),
    (NoRoom, status.HTTP_409_CONFLICT),
    (NotOffered, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (ChoiceBusy, status.HTTP_503_SERVICE_UNAVAILABLE),
)


class SiteOut(BaseModel):
    """A site to choose: never anything of the consumer's."""

    site: str
    name: str
    kind: str = Field(description="locker or counter")
    distance_km: float = Field(description="from the delivery address, straight line")

    @classmethod
    def of(cls, option: SiteOption) -> SiteOut:
        return cls(
            site=option.site,
            name=option.name,
            kind=option.kind.value,
            distance_km=option.distance_km,
        )


class OfferOut(BaseModel):
    label: str
    choose_by: float = Field(description="Unix s: after it central chooses the nearest")
    choose_by_local: str = Field(description="the same in Singapore time")
    options: list[SiteOut] = Field(description="nearest first; empty once chosen")
    chosen: SiteOut | None = Field(description="the site chosen through this link, if any")

    @classmethod
    def of(cls, offer: Offer) -> OfferOut:
        return cls(
            label=offer.label,
            choose_by=offer.choose_by,
            choose_by_local=offer.choose_by_local,
            options=[SiteOut.of(o) for o in offer.options],
            chosen=SiteOut.of(offer.chosen) if offer.chosen else None,
        )


class ChoiceIn(BaseModel):
    site: str = Field(min_length=1, max_length=MAX_SITE_ID, description="a listed site's id")


class ChosenOut(BaseModel):
    label: str
    site: SiteOut
    state: str = Field(description="the parcel's state now (redirected)")
    repeated: bool = Field(description="true: this choice was made already; nothing done again")

    @classmethod
    def of(cls, chosen: Chosen) -> ChosenOut:
        return cls(
            label=chosen.label,
            site=SiteOut.of(chosen.site),
            state=chosen.state,
            repeated=chosen.repeated,
        )


def router(ctx: WebContext) -> APIRouter:
    """The choice link's routes (see the module)."""
    routes = APIRouter(tags=["public"])

    def choices() -> Choices:
        try:
            key = link_key(ctx.config.notify.link_secret_file)
        except ConfigError as exc:
            raise ChoiceBusy(f"choices cannot be checked now: {exc}") from None
        return Choices(
            ctx.store,
            key,
            window_of(ctx.config),
            ctx.config.reservations.hold_s,
            ctx.config.notify.quiet,
        )

    @routes.get(f"/api{PATH}/{{label}}/{{token}}", response_model=OfferOut)
    def offer_json(label: str, token: str) -> OfferOut:
        """The sites the consumer may choose now, or the one chosen."""
        with _answers():
            return OfferOut.of(choices().offer(label, token, ctx.clock.now()))

    @routes.post(f"/api{PATH}/{{label}}/{{token}}", response_model=ChosenOut)
    def choose_json(label: str, token: str, body: ChoiceIn) -> ChosenOut:
        """The parcel goes to `site` now (reserved there, redirected with its courier)."""
        with _answers():
            return ChosenOut.of(choices().choose(label, token, body.site, ctx.clock.now()))

    @routes.get(f"{PATH}/{{label}}/{{token}}", response_class=HTMLResponse)
    def offer_page(label: str, token: str) -> HTMLResponse:
        """The choice page."""
        try:
            offer = choices().offer(label, token, ctx.clock.now())
        except ChoiceError as exc:
            return _refused_page(label, exc)
        html = TEMPLATES.get_template("choose.html").render(o=offer)
        return HTMLResponse(html, headers=NO_STORE)

    @routes.post(f"{PATH}/{{label}}/{{token}}", response_class=HTMLResponse)
    def choose_page(
        label: str, token: str, site: str = Form("", max_length=MAX_SITE_ID)
    ) -> Response:
        """The page's form: chosen, then back to the page (a reload sends nothing again)."""
        try:
            choices().choose(label, token, site, ctx.clock.now())
        except ChoiceError as exc:
            return _refused_page(label, exc)
        return RedirectResponse(f"{PATH}/{label}/{token}", status.HTTP_303_SEE_OTHER)

    return routes


def _status(exc: ChoiceError) -> int:
    return next((code for kind, code in _STATUS if isinstance(exc, kind)), 400)


@contextmanager
def _answers() -> Iterator[None]:
    """A refusal as an HTTP answer (nothing changed)."""
    try:
        yield
    except ChoiceError as exc:
        raise HTTPException(_status(exc), str(exc)) from None


def _refused_page(label: str, exc: ChoiceError) -> HTMLResponse:
    html = TEMPLATES.get_template("refused.html").render(
        label=label[:MAX_SITE_ID], message=str(exc), again=isinstance(exc, NoRoom | NotOffered)
    )
    return HTMLResponse(html, status_code=_status(exc), headers=NO_STORE)
