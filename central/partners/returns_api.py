"""The partner API's returns (scope `returns:write`): a partner has central issue a return
label for its consumer, and confirms the return is back with it.

    POST /api/partner/returns                   issue a label (the consumer's LNR: text)
    POST /api/partner/returns/{label}/received  the return is back with the partner

Only the partner's own returns: another partner's label is a 404, as an unknown one is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, Field, StringConstraints

from central.parcels.returns import (
    DEFAULT_VALID_DAYS,
    MAX_VALID_DAYS,
    ReturnError,
    UnknownReturn,
    issue_return,
    receive_return,
)
from central.partners.keys import Scope
from central.partners.ownership import label_policy
from central.store import Contact, StoreView
from central.web.context import WebContext
from protocols.errors import LabelError
from protocols.labels import parse_label
from protocols.messages import SizeClass

Short = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class ReturnIn(BaseModel):
    """A return to issue a label for."""

    label: Short = Field(description="the return parcel's own label (new to central)")
    size: SizeClass = Field(description="the compartment size it needs")
    site: Short | None = Field(default=None, description="the one site it may go to; default any")
    days: float = Field(
        default=DEFAULT_VALID_DAYS, gt=0, le=MAX_VALID_DAYS, description="valid for, in days"
    )
    return_of: Short | None = Field(
        default=None, description="the delivered parcel it sends back (its consumer is told)"
    )
    consumer_email: Annotated[str, StringConstraints(max_length=254)] | None = None
    consumer_phone: Annotated[str, StringConstraints(max_length=32)] | None = None
    consumer_name: Annotated[str, StringConstraints(max_length=128)] | None = None
    language: Annotated[str, StringConstraints(max_length=8)] | None = None


class ReturnOut(BaseModel):
    return_id: str
    label: str
    site: str | None = Field(description="None: any site")
    size: str
    expires_at: float = Field(description="Unix seconds")
    text: str = Field(description="the label's scan text (LNR:...), for its QR code")
    code: str = Field(description="its short form, for counter staff to read")


def _check_label(view: StoreView, partner: str, text: str) -> None:
    """ReturnError if `partner` may not announce the label `text` (its label ranges, or
    another partner's); a malformed label is left for issue_return to name."""
    try:
        label = parse_label(text).id
    except LabelError:
        return
    refused = label_policy(view).check_for(partner)(label)
    if refused is not None:
        raise ReturnError(f"label {label}: {refused}")


class ReturnReceivedOut(BaseModel):
    label: str
    state: str


def return_routes(
    api: APIRouter, ctx: WebContext, caller: Callable[[Scope], Callable[..., Any]]
) -> None:
    """Add the returns routes to the partner API's router `api`; `caller(scope)` is its
    dependency that authenticates a request's key for `scope` (an object with `.partner`)."""
    writer = Depends(caller(Scope.RETURNS_WRITE))

    @api.post("/returns", response_model=ReturnOut, status_code=status.HTTP_201_CREATED)
    def issue(body: ReturnIn, who: Any = writer) -> ReturnOut:
        """Issue a return label: the consumer shows its QR code at a locker (or a counter's
        staff scan it). 400 naming the bad field (an unknown site, a label central knows)."""
        contact = None
        if body.consumer_email or body.consumer_phone:
            contact = Contact(
                name=body.consumer_name,
                phone=body.consumer_phone,
                email=body.consumer_email,
                language=body.language,
            )
        try:
            with ctx.store.transaction() as session:
                # A return's label is announced by issuing it: the label ranges hold as
                # for a manifest, checked before whether central knows the label.
                _check_label(session, who.partner, body.label)
                issued = issue_return(
                    session,
                    ctx.signer,
                    label=body.label,
                    partner=who.partner,
                    size=body.size.value,
                    site=body.site,
                    now=ctx.clock.now(),
                    return_of=body.return_of,
                    contact=contact,
                    days=body.days,
                    source=f"partner {who.partner}",
                )
        except ReturnError as exc:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
        record = issued.record
        return ReturnOut(
            return_id=record.return_id,
            label=record.label,
            site=record.site,
            size=record.size,
            expires_at=record.expires_at,
            text=issued.text,
            code=issued.code,
        )

    @api.post("/returns/{label}/received", response_model=ReturnReceivedOut)
    def received(label: str, who: Any = writer) -> ReturnReceivedOut:
        """The return is back with the partner (after a courier collected it): 404 for a
        label that is not one of the partner's returns, 409 if it is not collected yet."""
        try:
            with ctx.store.transaction() as session:
                record = receive_return(
                    session,
                    label.strip().upper(),
                    partner=who.partner,
                    source=f"partner {who.partner}",
                    now=ctx.clock.now(),
                )
        except UnknownReturn:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no return {label} of yours") from None
        except ReturnError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
        return ReturnReceivedOut(label=record.label, state=record.state or "")
