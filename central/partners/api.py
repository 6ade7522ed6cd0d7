"""The partner API under /api/partner: manifests in, a partner's own parcels out, webhook
endpoints managed. Every call carries `Authorization: Bearer lnk_...` (a key from
`lockernet partner key`); a missing, wrong or revoked key is 401, a key without the
call's scope 403 naming the scope.

A partner sees only the parcels it announced: any other label is 404, the same as one that
does not exist, so the API never tells whether another partner's parcel is there. No answer
carries a consumer's name, phone, e-mail or address: the models below have no field for them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AwareDatetime, BaseModel, Field

from central.parcels.imports import log_import
from central.parcels.lifecycle import ParcelState
from central.parcels.manifest import check_rows
from central.parcels.steps import announce
from central.partners.endpoints import add_endpoint, remove_endpoint
from central.partners.keys import KEY_USE_NOTED_EVERY_S, PartnerError, Scope, authenticate
from central.partners.milestones_api import milestone_routes
from central.partners.ownership import label_policy
from central.partners.returns_api import return_routes
from central.store import ParcelRecord, StepRecord
from central.store.open import open_reader
from central.store.queries.webhooks import WebhookEndpointRecord
from central.web.context import WebContext
from protocols.errors import LabelError
from protocols.labels import parse_label

PREFIX = "/api/partner"
# Rows one manifest call may carry; a day's manifest goes in several calls.
MAX_MANIFEST_ROWS = 10_000
# Parcels announced per transaction (as `lockernet parcels import` does).
ANNOUNCE_CHUNK = 2000
MAX_PAGE = 1000


@dataclass(frozen=True)
class Caller:
    """The partner behind a request, and what its key lets it do."""

    partner: str
    key_id: str
    scopes: tuple[str, ...]


# ------------------------------------------------------------------------ the models


def _time(unix_s: float | None) -> datetime | None:
    return None if unix_s is None else datetime.fromtimestamp(unix_s, UTC)


class ParcelStepOut(BaseModel):
    step: str
    state: str
    at: datetime


class ParcelOut(BaseModel):
    """A parcel as its partner sees it: where it is in its life and where it waits."""

    label: str
    state: str | None
    size: str | None
    site: str | None = Field(description="the site it is placed at or waits in")
    announced_at: datetime | None
    updated_at: datetime
    pickup_expires_at: datetime | None

    @classmethod
    def of(cls, record: ParcelRecord) -> ParcelOut:
        return cls(
            label=record.label,
            state=record.state,
            size=record.size,
            site=record.site,
            announced_at=_time(record.announced_at),
            updated_at=datetime.fromtimestamp(record.updated_at, UTC),
            pickup_expires_at=_time(record.pickup_expires_at),
        )


class ParcelTimelineOut(ParcelOut):
    steps: list[ParcelStepOut]


class ParcelPage(BaseModel):
    parcels: list[ParcelOut]
    next: str | None = Field(
        description="pass as `after` for the next page; null when this page was the last"
    )


# A page's cursor: the last parcel's updated_at (Python's exact float text) and label. Time
# alone cannot mark a page's end: a manifest or a wave changes many parcels at one moment.
_CURSOR_SEPARATOR = "~"


def page_cursor(record: ParcelRecord) -> str:
    """The cursor after `record`: "<updated_at>~<label>"."""
    return f"{record.updated_at!r}{_CURSOR_SEPARATOR}{record.label}"


def parse_cursor(text: str) -> tuple[float, str]:
    """(updated_at, label) of a cursor from page_cursor; ValueError if `text` is not one."""
    stamp, separator, label = text.partition(_CURSOR_SEPARATOR)
    at = float(stamp)
    if not separator or not label or not math.isfinite(at):
        raise ValueError(text)
    return at, parse_label(label).id


class ManifestIn(BaseModel):
    """The rows of a JSON manifest (the fields of `lockernet parcels import`'s .json)."""

    parcels: Annotated[list[Any], Field(max_length=MAX_MANIFEST_ROWS)]


class ManifestOut(BaseModel):
    announced: list[str] = Field(description="labels announced now")
    already_known: list[str] = Field(description="labels central knew: skipped, unchanged")


class RowErrorOut(BaseModel):
    index: int = Field(description="the row's position in `parcels`, from 0")
    row: int = Field(description="the row's number, from 1 (as the CLI counts)")
    field: str
    message: str


class ManifestRejected(BaseModel):
    detail: str
    errors: list[RowErrorOut]


class WebhookIn(BaseModel):
    url: str
    events: list[str] = Field(default_factory=list, description="message types; none: all")


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str]
    created_at: datetime

    @classmethod
    def of(cls, record: WebhookEndpointRecord) -> WebhookOut:
        return cls(
            id=record.id,
            url=record.url,
            events=list(record.event_types),
            created_at=datetime.fromtimestamp(record.created_at, UTC),
        )


class WebhookCreated(WebhookOut):
    secret: str = Field(description="the signing secret (whsec_...), shown only now")


# ------------------------------------------------------------------------ the routes


def router(ctx: WebContext) -> APIRouter:
    """The partner API's routes (see the module)."""
    api = APIRouter(prefix=PREFIX, tags=["partner"])
    bearer = HTTPBearer(auto_error=False, description="a partner API key, lnk_...")

    def caller(scope: Scope) -> Callable[..., Caller]:
        # Depends as a default, not in Annotated: the annotations are strings resolved in
        # the module's globals, where `bearer` is not.
        def dependency(
            credentials: HTTPAuthorizationCredentials | None = Depends(bearer),  # noqa: B008
        ) -> Caller:
            return _authorize(ctx, credentials, scope)

        return dependency

    _parcel_routes(api, ctx, caller)
    _webhook_routes(api, ctx, caller)
    milestone_routes(api, ctx, caller)
    return_routes(api, ctx, caller)
    return api


CallerFor = Callable[[Scope], Callable[..., Caller]]


def _parcel_routes(api: APIRouter, ctx: WebContext, caller: CallerFor) -> None:
    writer = Depends(caller(Scope.PARCELS_WRITE))
    reader = Depends(caller(Scope.PARCELS_READ))

    @api.post(
        "/manifests",
        response_model=ManifestOut,
        responses={422: {"model": ManifestRejected, "description": "bad rows; none announced"}},
    )
    def submit_manifest(body: ManifestIn, who: Caller = writer) -> Any:
        """Announce parcels. Every row is checked first, as `lockernet parcels import`
        checks a file: if any row is bad, the answer lists every bad field of every bad row
        and nothing is announced. A label central already knows is skipped. Central's timer
        places the announced parcels after `service.replace_after_s` (30 s by default)."""
        # A label in another partner's range, or outside the caller's own ranges, is a bad
        # row like any other (docs/partners.md, "Label ranges"): nobody squats a label.
        with open_reader(ctx.reader_location) as snapshot:
            policy = label_policy(snapshot.view)
        parcels, errors = check_rows(body.parcels, label_check=policy.check_for(who.partner))
        if errors:
            rejected = ManifestRejected(
                detail=f"{len({e.row for e in errors})} bad row(s); nothing was announced",
                errors=[
                    RowErrorOut(index=e.row - 1, row=e.row, field=e.field, message=e.message)
                    for e in errors
                ],
            )
            return JSONResponse(rejected.model_dump(), status_code=422)
        now = ctx.clock.now()
        announced: list[str] = []
        known: list[str] = []
        for start in range(0, len(parcels), ANNOUNCE_CHUNK):
            with ctx.store.transaction() as session:
                for parcel in parcels[start : start + ANNOUNCE_CHUNK]:
                    new = announce(session, parcel, now, f"partner {who.partner}", who.partner)
                    (announced if new is not None else known).append(parcel.label)
        log_import(
            by=f"partner {who.partner}",
            source="the partner API",
            new=len(announced),
            known=len(known),
            placed=None,
        )
        return ManifestOut(announced=announced, already_known=known)

    @api.get("/parcels/{label}", response_model=ParcelTimelineOut)
    def get_parcel(label: str, who: Caller = reader) -> ParcelTimelineOut:
        """One of the partner's parcels with its timeline; 404 for any other label."""
        try:
            label = parse_label(label).id
        except LabelError:
            raise _not_found(label) from None
        with open_reader(ctx.reader_location) as snapshot:
            record = snapshot.view.partner_parcel(who.partner, label)
            steps = snapshot.view.steps(label) if record is not None else []
        if record is None:
            raise _not_found(label)
        base = ParcelOut.of(record).model_dump()
        return ParcelTimelineOut(**base, steps=[_step(s) for s in steps])

    @api.get("/parcels", response_model=ParcelPage)
    def list_parcels(
        who: Caller = reader,
        state: ParcelState | None = None,
        since: Annotated[
            AwareDatetime | None,
            Query(description="changed at or after (ISO 8601 with zone, or Unix seconds)"),
        ] = None,
        after: Annotated[
            str | None,
            Query(max_length=64, description="the `next` of the page before: page on"),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = MAX_PAGE,
    ) -> ParcelPage:
        """The partner's parcels, oldest change first (then by label). Page on with
        `after` = the answer's `next`, keeping the same `state` and `since`, until `next`
        is null; each parcel comes once in a walk (unless it changes meanwhile)."""
        try:
            cursor = None if after is None else parse_cursor(after)
        except (ValueError, LabelError):
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_ENTITY,
                f"after {after!r}: not a page's `next` (pass it as it came)",
            ) from None
        with open_reader(ctx.reader_location) as snapshot:
            records = snapshot.view.partner_parcels(
                who.partner,
                state=None if state is None else state.value,
                since=None if since is None else since.timestamp(),
                after=cursor,
                limit=limit,
            )
        last = page_cursor(records[-1]) if len(records) == limit else None
        return ParcelPage(parcels=[ParcelOut.of(r) for r in records], next=last)


def _webhook_routes(api: APIRouter, ctx: WebContext, caller: CallerFor) -> None:
    manager = Depends(caller(Scope.WEBHOOKS_MANAGE))

    @api.post("/webhooks", response_model=WebhookCreated, status_code=status.HTTP_201_CREATED)
    def create_webhook(body: WebhookIn, who: Caller = manager) -> WebhookCreated:
        """Add an endpoint; the answer holds its signing secret, shown only this once."""
        try:
            with ctx.store.transaction() as session:
                added = add_endpoint(session, who.partner, body.url, body.events, ctx.clock.now())
        except PartnerError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from None
        out = WebhookOut.of(added.record).model_dump()
        return WebhookCreated(**out, secret=added.record.secret)

    @api.get("/webhooks", response_model=list[WebhookOut])
    def list_webhooks(who: Caller = manager) -> list[WebhookOut]:
        """The partner's active endpoints (their secrets are never shown again)."""
        with open_reader(ctx.reader_location) as snapshot:
            endpoints = snapshot.view.webhook_endpoints(who.partner)
        return [WebhookOut.of(e) for e in endpoints]

    @api.delete("/webhooks/{endpoint}", status_code=status.HTTP_204_NO_CONTENT)
    def delete_webhook(endpoint: int, who: Caller = manager) -> Response:
        """Remove an endpoint; what was still pending for it is given up."""
        with ctx.store.transaction() as session:
            removed = remove_endpoint(session, who.partner, endpoint, ctx.clock.now())
        if not removed:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no webhook endpoint {endpoint}")
        return Response(status_code=status.HTTP_204_NO_CONTENT)


def _authorize(
    ctx: WebContext, credentials: HTTPAuthorizationCredentials | None, scope: Scope
) -> Caller:
    """The caller of a request with the key `credentials` hold: 401 if it has none, or
    not a live one; 403 if it lacks `scope`."""
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "an API key is needed: Bearer lnk_...", challenge
        )
    with open_reader(ctx.reader_location) as snapshot:
        key = authenticate(snapshot.view, credentials.credentials)
    if key is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "the API key is unknown or revoked", challenge
        )
    if scope.value not in key.scopes:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"this API key lacks the scope {scope}")
    # Real time: when a key was last used is read by a person.
    used_at = time.time()
    if key.last_used_at is None or key.last_used_at < used_at - KEY_USE_NOTED_EVERY_S:
        with ctx.store.transaction() as session:
            session.touch_partner_key(key.key_id, used_at, used_at - KEY_USE_NOTED_EVERY_S)
    return Caller(partner=key.partner, key_id=key.key_id, scopes=key.scopes)


def _not_found(label: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"no parcel {label[:40]} of yours")


def _step(step: StepRecord) -> ParcelStepOut:
    # The step's source (a site's event, an operator's name) is central's business.
    return ParcelStepOut(step=step.step, state=step.after, at=datetime.fromtimestamp(step.at, UTC))
