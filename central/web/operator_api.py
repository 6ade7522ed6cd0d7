"""The operator API: /api/... in JSON, behind a login (central/web/auth.py).

Reads go through the read path (one read-only snapshot per request, never waiting for
ingest); writes go through the store, each door-moving or state-changing call with its
audit entry in the same transaction. Every error names what was wrong:

    404 unknown site, slot, alarm or parcel    409 refused (mass-open guard, acked already)
    400 bad input central checks itself        422 a body or query the schema refuses
    401 not signed in    403 a role too low    503 no way to reach sites from here
    504 the site did not answer in time
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status

from central.errors import CentralError, CommandFailed, UnknownParcel, UnknownSite
from central.operator import remote
from central.operator.track import timeline
from central.parcels.lifecycle import ParcelState
from central.sites.alarms import UnknownAlarm, acknowledge
from central.store import StoreView
from central.store.open import open_reader
from central.store.queries.audit import AuditEntry
from central.web import network_view
from central.web.api_models import (
    AckBody,
    AlarmOut,
    AuditOut,
    DiagnosticsOut,
    Login,
    OpenBody,
    ParcelOut,
    ServiceBody,
    SignedOut,
    SiteOut,
    SitesOut,
    SlotOut,
    StepOut,
    TimelineOut,
    UserOut,
)
from central.web.auth import (
    LoginThrottled,
    Role,
    User,
    client_address,
    end_session,
    require_role,
    start_session,
    verify_login,
)
from central.web.context import WebContext
from protocols.errors import LabelError, ProtocolError
from protocols.labels import parse_label
from protocols.messages import RunDiagnostics
from protocols.topics import check_site_id

# A parcel search answers at most this many (the console shows one page).
PARCEL_SEARCH_MAX = 200
_PREFIX = re.compile(r"^[A-Za-z0-9]{0,13}$")

Viewer = Annotated[User, Depends(require_role(Role.VIEWER))]
Technician = Annotated[User, Depends(require_role(Role.TECHNICIAN))]
Operator = Annotated[User, Depends(require_role(Role.OPERATOR))]


@contextmanager
def http_errors() -> Iterator[None]:
    """Central's errors as HTTP answers that carry their message."""
    try:
        yield
    except (UnknownSite, remote.UnknownSlot, UnknownAlarm, UnknownParcel) as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
    except remote.RemoteOpenRefused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
    except CommandFailed as exc:
        raise HTTPException(status.HTTP_504_GATEWAY_TIMEOUT, detail=str(exc)) from None
    except CentralError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(exc)) from None


def _site_id(site: str) -> str:
    try:
        return check_site_id(site)
    except ProtocolError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(UnknownSite(site))) from None


def _label(label: str) -> str:
    try:
        return parse_label(label).id
    except LabelError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"label {label!r}: {exc}") from None


def _audit_out(entry: AuditEntry) -> AuditOut:
    return AuditOut(**entry.__dict__)


@contextmanager
def _snapshot(ctx: WebContext) -> Iterator[StoreView]:
    """One read-only snapshot of the store, for one request."""
    with open_reader(ctx.reader_location) as reader:
        yield reader.view


def router(ctx: WebContext) -> APIRouter:
    """The routes of the operator API."""
    from central.web.badge_routes import badge_routes

    api = APIRouter(prefix="/api", tags=["operator"])
    _login_routes(api, ctx)
    _site_routes(api, ctx)
    _door_routes(api, ctx)
    _alarm_routes(api, ctx)
    _parcel_routes(api, ctx)
    badge_routes(api, ctx)
    return api


def _login_routes(api: APIRouter, ctx: WebContext) -> None:

    @api.post("/login", response_model=UserOut, tags=["login"])
    def login(body: Login, request: Request) -> UserOut:
        """Sign in: sets the session cookie. 401 for a wrong name or password (one answer
        for both); 429 with Retry-After after too many wrong passwords for the name."""
        try:
            user = verify_login(
                ctx.store, body.name, body.password, ctx.login_throttle, client_address(request)
            )
        except LoginThrottled as exc:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                detail=str(exc),
                headers={"Retry-After": str(int(exc.retry_after_s) + 1)},
            ) from exc
        if user is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="wrong name or password")
        start_session(request, user)
        return UserOut(name=user.name, role=user.role)

    @api.post("/logout", response_model=SignedOut, tags=["login"])
    def logout(request: Request) -> SignedOut:
        """Sign out: empties the session cookie."""
        end_session(request)
        return SignedOut()

    @api.get("/me", response_model=UserOut, tags=["login"])
    def me(user: Viewer) -> UserOut:
        """Who is signed in."""
        return UserOut(name=user.name, role=user.role)


def _site_routes(api: APIRouter, ctx: WebContext) -> None:

    @api.get("/sites", response_model=SitesOut)
    def sites(
        _user: Viewer,
        state: network_view.SiteFilter | None = None,
        kind: network_view.SiteKindFilter | None = None,
        sort: network_view.SiteSort = network_view.SiteSort.ID,
        q: Annotated[str | None, Query(max_length=64)] = None,
    ) -> SitesOut:
        """The network's totals and its sites, filtered and sorted."""
        with _snapshot(ctx) as view:
            return network_view.list_sites(view, state, kind, sort, q)

    @api.get("/sites/{site}", response_model=SiteOut)
    def site(site: str, _user: Viewer) -> SiteOut:
        """One site's line."""
        with http_errors(), _snapshot(ctx) as view:
            return network_view.one_site(view, _site_id(site))

    @api.get("/sites/{site}/slots", response_model=list[SlotOut])
    def slots(site: str, _user: Viewer) -> list[SlotOut]:
        """Each compartment of a locker: state, door, sensor, contents, fault, reservation."""
        with http_errors(), _snapshot(ctx) as view:
            return network_view.site_slots(view, _site_id(site))

    @api.get("/sites/{site}/diagnostics", response_model=DiagnosticsOut)
    def diagnostics(site: str, _user: Technician) -> DiagnosticsOut:
        """Ask the site for its diagnostic report and wait for it."""
        site = _site_id(site)
        with http_errors(), _snapshot(ctx) as view:
            if view.get_site(site) is None:
                raise UnknownSite(site)
        if ctx.request_command is None:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                detail="this API process has no link to the sites' broker: diagnostics are "
                "served by `lockernet central run` with [api] listen, or `lockernet central api`",
            )
        with http_errors():
            reply = ctx.request_command(site, RunDiagnostics(), ctx.config.commands.reply_timeout_s)
        return DiagnosticsOut(
            site=site,
            ok=reply.ok,
            reason=reply.reason.value if reply.reason else None,
            detail=reply.detail,
            at=reply.at,
            report=dict(reply.result or {}),
        )


def _door_routes(api: APIRouter, ctx: WebContext) -> None:
    @api.post("/sites/{site}/slots/{slot}/open", response_model=AuditOut)
    def open_slot(site: str, slot: str, body: OpenBody, user: Technician) -> AuditOut:
        """Open a compartment's door remotely (audited; limited per site)."""
        with http_errors():
            entry = remote.remote_open(
                ctx.store,
                actor=user,
                site=_site_id(site),
                slot=slot,
                reason=body.reason,
                now=ctx.clock.now(),
            )
        return _audit_out(entry)

    @api.post("/sites/{site}/slots/{slot}/service", response_model=AuditOut)
    def slot_service(site: str, slot: str, body: ServiceBody, user: Technician) -> AuditOut:
        """Take a compartment out of service, or put it back (audited)."""
        with http_errors():
            entry = remote.set_slot_service(
                ctx.store,
                actor=user,
                site=_site_id(site),
                slot=slot,
                in_service=body.in_service,
                reason=body.reason,
                now=ctx.clock.now(),
            )
        return _audit_out(entry)

    @api.get("/audit", response_model=list[AuditOut])
    def audit(_user: Viewer, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[AuditOut]:
        """The newest audit entries, newest first."""
        with _snapshot(ctx) as view:
            return [_audit_out(e) for e in remote.audit_log(view, limit)]


def _alarm_routes(api: APIRouter, ctx: WebContext) -> None:

    @api.get("/alarms", response_model=list[AlarmOut])
    def alarms(_user: Viewer, include_cleared: bool = False) -> list[AlarmOut]:
        """Open alarms (and closed ones, if asked), oldest first."""
        with _snapshot(ctx) as view:
            return [
                AlarmOut(**{**a.__dict__, "id": a.id or 0})
                for a in view.list_alarms(include_cleared)
            ]

    @api.post("/alarms/{alarm_id}/ack", response_model=AlarmOut)
    def ack(alarm_id: int, body: AckBody, user: Operator) -> AlarmOut:
        """Acknowledge an alarm (as `lockernet alarms --ack` does); audited with the note."""
        now = ctx.clock.now()
        with http_errors(), ctx.store.transaction() as session:
            alarm = acknowledge(session, alarm_id, user.name, now)
            session.add_audit(
                AuditEntry(
                    at=now,
                    actor=user.name,
                    role=user.role.value,
                    action="ack_alarm",
                    reason=body.note.strip() or "-",
                    outcome="done",
                    site=alarm.site,
                    target=f"alarm:{alarm_id}",
                )
            )
        return AlarmOut(**{**alarm.__dict__, "id": alarm.id or alarm_id})


def _parcel_routes(api: APIRouter, ctx: WebContext) -> None:

    @api.get("/parcels/{label}", response_model=TimelineOut)
    def parcel(label: str, _user: Viewer) -> TimelineOut:
        """A parcel's timeline (never its consumer's contact details)."""
        with http_errors(), _snapshot(ctx) as view:
            found = timeline(view, _label(label))
        return TimelineOut(
            label=found.label,
            state=found.state,
            size=found.size,
            site=found.delivery_point,
            slot=found.slot,
            partner=found.partner,
            courier=found.courier,
            dispatched_at=found.dispatched_at,
            pickup_expires_at=found.pickup_expires_at,
            codes_issued=found.codes_issued,
            milestone=found.milestone,
            steps=[StepOut(**s.__dict__) for s in found.steps],
        )

    @api.get("/parcels", response_model=list[ParcelOut])
    def parcels(
        _user: Viewer,
        q: Annotated[str, Query(max_length=13, description="label prefix")] = "",
        state: ParcelState | None = None,
        site: Annotated[str | None, Query(max_length=32)] = None,
        limit: Annotated[int, Query(ge=1, le=PARCEL_SEARCH_MAX)] = 50,
    ) -> list[ParcelOut]:
        """Parcels by label prefix, state and site, by label."""
        if not _PREFIX.fullmatch(q):
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST,
                detail=f"q {q!r}: a label prefix is letters and digits only",
            )
        with _snapshot(ctx) as view:
            found = view.search_parcels(q.upper(), state.value if state else None, site, limit)
        return [
            ParcelOut(
                label=p.label,
                state=p.state,
                size=p.size,
                site=p.site,
                slot=p.slot,
                partner=p.partner,
                updated_at=p.updated_at,
            )
            for p in found
        ]
