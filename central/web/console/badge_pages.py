"""Courier badges: the list, issuing one (its QR shown once, as an inline PNG, with its scan
text) and revoking one (central/operator/badges.py queues the revocation to every site)."""

from __future__ import annotations

import base64
import io
import math

import qrcode
import qrcode.constants
from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from central.errors import CentralError
from central.operator.badges import issue_badge, list_badges, revoke_badge
from central.service.loading import load_configured_network
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

# Pixels per QR module and the quiet zone (modules): a phone or a site's scanner reads it
# off a screen or a print at arm's length.
QR_BOX_PIXELS = 6
QR_QUIET_MODULES = 4
# Longest validity the form offers (days): a badge is re-issued at least yearly.
MAX_DAYS = 366.0


def badge_qr_data_uri(text: str) -> str:
    """The QR code of a badge's scan text as a data: URI of a PNG, for an <img> on the page
    (never written to disk: it is a credential)."""
    qr = qrcode.QRCode(
        version=None,
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        box_size=QR_BOX_PIXELS,
        border=QR_QUIET_MODULES,
    )
    qr.add_data(text)
    qr.make(fit=True)
    buffer = io.BytesIO()
    qr.make_image(fill_color="black", back_color="white").save(buffer)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def add_routes(routes: APIRouter, ctx: WebContext) -> None:
    """GET /console/badges[?all=1], POST /console/badges, POST /console/badges/{id}/revoke."""

    @routes.get(f"{PREFIX}/badges")
    @guarded
    def badges(request: Request, all: bool = False) -> Response:
        user = user_of(request)
        with open_reader(ctx.reader_location) as reader:
            records = list_badges(reader.view, include_revoked=all)
        return page(request, "badges.html", user, badges=records, all=all, issued=None)

    @routes.post(f"{PREFIX}/badges")
    @guarded
    def issue(
        request: Request,
        courier: str = Form(""),
        partner: str = Form(""),
        days: str = Form("30"),
        csrf: str = Form(""),
    ) -> Response:
        user = user_of(request)
        check_csrf(request, csrf)
        require(user, OPERATOR_ROLES)
        try:
            validity = float(days)
        except ValueError:
            validity = math.nan
        if not (0 < validity <= MAX_DAYS):
            flash(request, f"days: {days!r} is not a number of days in (0, 366]", error=True)
            return back_to(f"{PREFIX}/badges")
        try:
            issued = issue_badge(
                ctx.store,
                ctx.signer,
                courier=courier.strip(),
                partner=partner.strip(),
                days=validity,
                actor=user.name,
                now=ctx.clock.now(),
                network=load_configured_network(ctx.config),
            )
        except CentralError as exc:
            flash(request, f"no badge issued: {exc}", error=True)
            return back_to(f"{PREFIX}/badges")
        with open_reader(ctx.reader_location) as reader:
            records = list_badges(reader.view)
        # Shown on this response only: the page is not kept, and reloading it does not
        # issue another (the browser asks before posting a form again).
        shown = page(
            request,
            "badges.html",
            user,
            badges=records,
            all=False,
            issued=issued,
            qr=badge_qr_data_uri(issued.text),
        )
        shown.headers["Cache-Control"] = "no-store"  # the scan text is a credential
        return shown

    @routes.post(f"{PREFIX}/badges/{{badge_id}}/revoke")
    @guarded
    def revoke(request: Request, badge_id: str, csrf: str = Form("")) -> Response:
        user = user_of(request)
        check_csrf(request, csrf)
        require(user, OPERATOR_ROLES)
        try:
            record = revoke_badge(
                ctx.store, badge_id=badge_id, actor=user.name, now=ctx.clock.now()
            )
        except CentralError as exc:
            flash(request, f"badge {badge_id} not revoked: {exc}", error=True)
            return back_to(f"{PREFIX}/badges")
        flash(
            request,
            f"badge {record.badge_id} of courier {record.courier} revoked; every site is told",
        )
        return back_to(f"{PREFIX}/badges")
