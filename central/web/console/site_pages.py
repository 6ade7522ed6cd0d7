"""The site page (its slot grid, faults, alarms and refused scans), the remote open and the
service switch of a slot behind a confirmation, and the site's diagnostics as a page."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from central.errors import CentralError
from central.operator import remote
from central.store.open import open_reader
from central.store.queries.audit import AuditEntry
from central.web.console.render import (
    DOOR_ROLES,
    PREFIX,
    back_to,
    check_csrf,
    flash,
    guarded,
    page,
    require,
    user_of,
)
from central.web.console.slot_grid import site_page
from central.web.context import WebContext
from protocols.localtime import timestamp
from protocols.messages import RunDiagnostics
from protocols.site_report import looks_like_site_report, summary

# Above this a reason is cut: it is stored in the audit log and shown in lists.
REASON_MAX_CHARS = 500


def add_routes(routes: APIRouter, ctx: WebContext) -> None:
    """GET /console/sites/{site}, POST .../slots/{slot}/open and .../service, GET
    .../diagnostics."""

    @routes.get(f"{PREFIX}/sites/{{site}}")
    @guarded
    def site(request: Request, site: str) -> Response:
        user = user_of(request)
        with open_reader(ctx.reader_location) as reader:
            record = reader.view.get_site(site)
            model = site_page(reader.view, record) if record is not None else None
        if model is None:
            return page(request, "missing.html", user, status_code=404, what=f"site {site!r}")
        return page(request, "site.html", user, site=model)

    @routes.post(f"{PREFIX}/sites/{{site}}/slots/{{slot}}/open")
    @guarded
    def open_slot(
        request: Request, site: str, slot: str, reason: str = Form(""), csrf: str = Form("")
    ) -> Response:
        user = user_of(request)
        check_csrf(request, csrf)
        require(user, DOOR_ROLES)
        reason = reason.strip()[:REASON_MAX_CHARS]
        if not reason:
            flash(request, f"slot {slot} was not opened: say why it must open", error=True)
            return back_to(f"{PREFIX}/sites/{site}")
        try:
            entry = remote.remote_open(
                ctx.store, actor=user, site=site, slot=slot, reason=reason, now=ctx.clock.now()
            )
        except CentralError as exc:
            flash(request, f"slot {slot} was not opened: {exc}", error=True)
            return back_to(f"{PREFIX}/sites/{site}")
        flash(request, _outcome_text(entry, f"remote open of {slot}"))
        return back_to(f"{PREFIX}/sites/{site}")

    @routes.post(f"{PREFIX}/sites/{{site}}/slots/{{slot}}/service")
    @guarded
    def slot_service(
        request: Request,
        *,
        site: str,
        slot: str,
        in_service: str = Form(""),
        reason: str = Form(""),
        csrf: str = Form(""),
    ) -> Response:
        user = user_of(request)
        check_csrf(request, csrf)
        require(user, DOOR_ROLES)
        back = f"{PREFIX}/sites/{site}"
        wanted = in_service == "true"
        what = "back into service" if wanted else "out of service"
        reason = reason.strip()[:REASON_MAX_CHARS]
        if not reason:
            flash(request, f"slot {slot} was not taken {what}: say why", error=True)
            return back_to(back)
        try:
            entry = remote.set_slot_service(
                ctx.store,
                actor=user,
                site=site,
                slot=slot,
                in_service=wanted,
                reason=reason,
                now=ctx.clock.now(),
            )
        except CentralError as exc:
            flash(request, f"slot {slot} was not taken {what}: {exc}", error=True)
            return back_to(back)
        flash(request, _outcome_text(entry, f"taking {slot} {what}"))
        return back_to(back)

    @routes.get(f"{PREFIX}/sites/{{site}}/diagnostics")
    @guarded
    def diagnostics(request: Request, site: str) -> Response:
        user = user_of(request)
        require(user, DOOR_ROLES)
        with open_reader(ctx.reader_location) as reader:
            known = reader.view.get_site(site) is not None
        if not known:
            return page(request, "missing.html", user, status_code=404, what=f"site {site!r}")
        if ctx.request_command is None:
            return page(
                request,
                "diagnostics.html",
                user,
                site=site,
                problem="this console has no link to the sites (it serves a store, not a "
                "running central): run lockernet diag SITE beside central",
                reply=None,
            )
        timeout = ctx.config.commands.reply_timeout_s
        try:
            reply = ctx.request_command(site, RunDiagnostics(), timeout)
        except CentralError as exc:
            return page(request, "diagnostics.html", user, site=site, problem=str(exc), reply=None)
        return page(
            request,
            "diagnostics.html",
            user,
            site=site,
            problem=None,
            reply=reply,
            report=report_tree(reply.result or {}),
            summary=report_summary(reply.result or {}),
        )


def report_tree(value: Any) -> list[tuple[str, Any]]:
    """A diagnostics report (JSON) as nested (label, text-or-children) pairs for the page:
    a dict's keys in the site's order, a list's items numbered from 1, each leaf as a person
    reads it (`report_value`)."""
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = [(f"{i}", item) for i, item in enumerate(value, start=1)]
    else:
        return []
    return [
        (
            str(key),
            report_tree(item)
            if isinstance(item, dict | list) and item
            else report_value(str(key), item),
        )
        for key, item in items
    ]


def report_value(key: str, value: Any) -> str:
    """One leaf of a report as the page shows it: a time (a key "at", "since", "until" or
    ending in "_at", holding Unix seconds) in Singapore time, yes/no for a boolean, a dash
    for nothing (None, or an empty list or dict), anything else as it came."""
    if value is None or (isinstance(value, list | dict) and not value):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float) and _is_time_key(key) and value > 0:
        return timestamp(value)
    return str(value)


def report_summary(value: Any) -> str | None:
    """The report's one-screen summary (protocols/site_report.py, as `lockernet diag` prints
    it), if it has a site report's shape; None otherwise."""
    return summary(value) if looks_like_site_report(value) else None


def _is_time_key(key: str) -> bool:
    return key in ("at", "since", "until") or key.endswith("_at")


def _outcome_text(entry: AuditEntry, what: str) -> str:
    """The line the page shows after a door-moving call: what central did with it."""
    if entry.outcome == "queued":
        return (
            f"{what} queued for the site ({entry.command_id}); the site's answer shows under "
            "Remote commands below and in the audit log"
        )
    return f"{what}: {entry.outcome}; it is in the audit log"
