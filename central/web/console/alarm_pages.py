"""The alarm list with acknowledgement, and the audit log of what operators did."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from central.errors import CentralError
from central.operator.alarms import open_alarms
from central.operator.remote import audit_log
from central.sites.alarms import acknowledge
from central.store.open import open_reader
from central.web.console.render import (
    OPERATOR_ROLES,
    PREFIX,
    back_to,
    check_csrf,
    flash,
    guarded,
    page,
    require,
    user_of,
)
from central.web.context import WebContext

# Entries the audit page shows, newest first.
AUDIT_PAGE_ROWS = 200


def add_routes(routes: APIRouter, ctx: WebContext) -> None:
    """GET /console/alarms, POST /console/alarms/{id}/ack, GET /console/audit."""

    @routes.get(f"{PREFIX}/alarms")
    @guarded
    def alarms(request: Request) -> Response:
        user = user_of(request)
        with open_reader(ctx.reader_location) as reader:
            lines = open_alarms(reader.view)
        return page(request, "alarms.html", user, alarms=lines)

    @routes.post(f"{PREFIX}/alarms/{{alarm_id}}/ack")
    @guarded
    def ack(request: Request, alarm_id: int, csrf: str = Form("")) -> Response:
        user = user_of(request)
        check_csrf(request, csrf)
        require(user, OPERATOR_ROLES)
        try:
            # The code path of `lockernet alarms --ack`: the alarm names who saw it.
            with ctx.store.transaction() as session:
                alarm = acknowledge(session, alarm_id, user.name, ctx.clock.now())
        except CentralError as exc:
            flash(request, str(exc), error=True)
            return back_to(f"{PREFIX}/alarms")
        state = "closed" if alarm.cleared_at is not None else "open until the site clears it"
        flash(request, f"alarm {alarm.id} ({alarm.kind} at {alarm.site}) acknowledged; {state}")
        return back_to(f"{PREFIX}/alarms")

    @routes.get(f"{PREFIX}/audit")
    @guarded
    def audit(request: Request) -> Response:
        user = user_of(request)
        with open_reader(ctx.reader_location) as reader:
            entries = audit_log(reader.view, limit=AUDIT_PAGE_ROWS)
        return page(request, "audit.html", user, entries=entries)
