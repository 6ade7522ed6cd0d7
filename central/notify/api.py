"""The consumer's way out, over HTTP (no login):

    GET  /api/notify/unsubscribe?address=A&token=T   a page with one button: stop e-mails
    POST /api/notify/unsubscribe?address=A&token=T   stop them (RFC 8058 one-click too)
    POST /api/notify/sms-inbound                     the SMS provider forwards a reply:
         Authorization: Bearer <[notify.sms] api key>  {"from": "+65...", "text": "STOP"}

An e-mail link is honoured only with its token (central/notify/unsubscribe.py); a wrong one
gets 404 and changes nothing. A reply of STOP (or UNSUBSCRIBE, BERHENTI, 退订) opts the number
out of SMS; START opts it back in; any other reply is ignored (202).
"""

from __future__ import annotations

import hmac
from html import escape

from fastapi import APIRouter, Header, HTTPException, status
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from central.notify.kinds import Channel
from central.notify.optouts import opt_in, opt_out
from central.notify.recipients import recipient_for
from central.notify.transports import read_secret
from central.notify.unsubscribe import PATH, link_key, token_matches
from central.web.context import WebContext

STOP_WORDS = frozenset({"STOP", "UNSUBSCRIBE", "STOPALL", "BERHENTI", "退订", "停止"})
START_WORDS = frozenset({"START", "UNSTOP", "MULA"})
BAD_LINK = "This link is not valid. Use the link in the e-mail exactly as it came."


class InboundSms(BaseModel):
    """A consumer's reply, as the provider forwards it."""

    sender: str = Field(alias="from", min_length=1, max_length=32)
    text: str = Field(max_length=1600)


class InboundResult(BaseModel):
    """What the reply did: "opted_out", "opted_in" or "ignored"."""

    action: str


def _page(title: str, body: str, code: int = 200) -> HTMLResponse:
    html = (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
        f"<meta name='viewport' content='width=device-width'></head><body><h1>{title}</h1>"
        f"{body}</body></html>"
    )
    return HTMLResponse(html, status_code=code)


def router(ctx: WebContext) -> APIRouter:
    """The opt-out routes (no login: the token or the provider's key is the proof)."""
    routes = APIRouter(tags=["notifications"])
    config = ctx.config.notify

    def checked(address: str, token: str) -> str | None:
        recipient = recipient_for(Channel.EMAIL, address)
        if recipient is None or not token_matches(
            link_key(config.link_secret_file), recipient, token
        ):
            return None
        return recipient

    @routes.get(PATH, response_class=HTMLResponse)
    def unsubscribe_page(address: str = "", token: str = "") -> HTMLResponse:
        """A page asking to confirm (a mail scanner opening the link stops nothing)."""
        recipient = checked(address, token)
        if recipient is None:
            return _page("Link not valid", f"<p>{BAD_LINK}</p>", status.HTTP_404_NOT_FOUND)
        return _page(
            "Stop e-mails about your parcels",
            f"<p>No more e-mails to <b>{escape(recipient)}</b>?</p><form method='post'>"
            "<button type='submit'>Stop e-mails</button></form>",
        )

    @routes.post(PATH, response_class=HTMLResponse)
    def unsubscribe(address: str = "", token: str = "") -> HTMLResponse:
        """Stop e-mails to the link's address (idempotent)."""
        recipient = checked(address, token)
        if recipient is None:
            return _page("Link not valid", f"<p>{BAD_LINK}</p>", status.HTTP_404_NOT_FOUND)
        opt_out(ctx.store, recipient, ctx.clock.now())
        return _page("Done", f"<p>We will send no more e-mails to <b>{escape(recipient)}</b>.</p>")

    @routes.post("/api/notify/sms-inbound", response_model=InboundResult, status_code=202)
    def sms_inbound(reply: InboundSms, authorization: str = Header(default="")) -> InboundResult:
        """A consumer's SMS reply: STOP opts the number out, START back in."""
        if config.sms is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no SMS provider configured")
        key = read_secret(config.sms.api_key_file, "notify.sms.api_key_file")
        if not hmac.compare_digest(authorization.encode(), f"Bearer {key}".encode()):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="wrong provider key")
        words = reply.text.strip().split()
        word = words[0].upper() if words else ""
        if recipient_for(Channel.SMS, reply.sender) is None:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_ENTITY,
                detail=f"from: {reply.sender!r} is not a number",
            )
        if word in STOP_WORDS:
            opt_out(ctx.store, reply.sender, ctx.clock.now())
            return InboundResult(action="opted_out")
        if word in START_WORDS:
            opt_in(ctx.store, reply.sender)
            return InboundResult(action="opted_in")
        return InboundResult(action="ignored")

    return routes
