"""A pickup code's QR page, for consumers who have a phone and no e-mail (no login):

    GET /c/{label}.{token}   the code's QR image inline, its short form, the site's name and
                             the time it must be collected by (Singapore time)

The link comes in the consumer's SMS (central/notify/code_links.py); its token, an HMAC under
central's link key, is the proof: a forged or altered one gets 404. The page holds no name,
phone or address, and the code is signed again from the store (Ed25519 is deterministic:
central/operator/qr.py), never carried in the link. A code used, revoked (reissued) or
expired gets a page that says only that (410).
"""

from __future__ import annotations

import base64
from html import escape

from fastapi import APIRouter, status
from fastapi.responses import HTMLResponse

from central.notify.code_links import PATH_PREFIX, CodeLinks
from central.notify.unsubscribe import link_key
from central.notify.wording import place, when
from central.operator.qr import reproduced
from central.parcels.pickup_codes import render_qr_png
from central.store import CodeStatus
from central.web.context import WebContext

NOT_FOUND = "This link is not valid. Use the link in the SMS exactly as it came."
GONE = "This pickup code no longer works."


def _page(title: str, body: str, code: int = status.HTTP_200_OK) -> HTMLResponse:
    html = (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
        "<meta name='viewport' content='width=device-width'><meta name='robots' "
        f"content='noindex'></head><body><h1>{title}</h1>{body}</body></html>"
    )
    # The page opens a door: no cache or proxy keeps it.
    return HTMLResponse(html, status_code=code, headers={"Cache-Control": "no-store"})


def router(ctx: WebContext) -> APIRouter:
    """The code page route."""
    routes = APIRouter(tags=["public"])
    config = ctx.config.notify

    @routes.get(PATH_PREFIX + "{token}", response_class=HTMLResponse, include_in_schema=False)
    def code_page(token: str) -> HTMLResponse:
        """The QR page of a live code; 404 for a forged token, 410 for a dead code."""
        links = CodeLinks(config.public_url or "", link_key(config.link_secret_file))
        opened = links.opened(token)
        if opened is None:
            return _page("Link not valid", f"<p>{NOT_FOUND}</p>", status.HTTP_404_NOT_FOUND)
        label, code_id = opened
        with ctx.store.transaction() as session:
            code = next((c for c in session.codes(label) if c.code_id == code_id), None)
            site = session.get_site(code.site) if code is not None else None
        if code is None:
            return _page("Link not valid", f"<p>{NOT_FOUND}</p>", status.HTTP_404_NOT_FOUND)
        issued = reproduced(ctx.signer, code)
        live = code.status == CodeStatus.ACTIVE and code.expires_at > ctx.clock.now()
        if not live or issued is None:
            return _page("Code no longer valid", f"<p>{GONE}</p>", status.HTTP_410_GONE)
        name = site.name if site is not None and site.name else code.site
        kind = site.kind.value if site is not None and site.kind is not None else "locker"
        image = base64.b64encode(render_qr_png(issued)).decode()
        return _page(
            "Your pickup code",
            f"<p>Parcel {escape(label)} waits at {escape(place(kind, name, code.site, 'en'))}."
            "</p><p>Scan this at the locker's scanner, or show it at the counter:</p>"
            f"<p><img alt='pickup code QR' src='data:image/png;base64,{image}'></p>"
            f"<p>Code: <b>{escape(issued.short_form)}</b></p>"
            f"<p>Collect it before {escape(when(code.expires_at, 'en'))}.</p>",
        )

    return routes
