"""The couriers' handheld API under /api/courier: a courier's round of home parcels, out for
delivery, and each attempt at the door. Every call carries `Authorization: Bearer lnc_...`
(a token from `lockernet courier token`); a missing, wrong or revoked token is 401.

A parcel that is unknown, not a home delivery, or another courier's is 404 alike (a courier
cannot probe others' parcels); a parcel in the wrong state is 409; a wrong code is 422; an
attempt key used for another parcel or outcome is 409. Each refusal names what was wrong and
changes nothing. The answers never carry the consumer's name, phone or e-mail.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from central.delivery.choice import link_for
from central.delivery.door import (
    ROUND_STATES,
    AttemptAnswer,
    FailReason,
    Outcome,
    ProofKind,
    attempt,
    send_out,
)
from central.delivery.errors import (
    BadProof,
    DeliveryError,
    Incomplete,
    KeyReused,
    NotOnRound,
    WrongState,
)
from central.delivery.tokens import authenticate
from central.store import ParcelRecord
from central.store.open import open_reader
from central.store.queries.deliveries import CourierTokenRecord
from central.web.context import WebContext

PREFIX = "/api/courier"
# Parcels one out-for-delivery call may carry: a van's load, with room.
MAX_ROUND = 500
MAX_KEY = 128


class RoundParcelOut(BaseModel):
    """A parcel on the courier's round: where to take it, never who the consumer is."""

    label: str
    state: str | None
    size: str | None
    postal_code: str | None
    lat: float | None
    lon: float | None

    @classmethod
    def of(cls, record: ParcelRecord) -> RoundParcelOut:
        return cls(
            label=record.label,
            state=record.state,
            size=record.size,
            postal_code=record.postal_code,
            lat=record.lat,
            lon=record.lon,
        )


class OutIn(BaseModel):
    labels: Annotated[list[str], Field(min_length=1, max_length=MAX_ROUND)]


class OutOut(BaseModel):
    out_for_delivery: list[str] = Field(description="labels marked out now (codes sent)")
    already_out: list[str] = Field(description="labels that were out already: unchanged")


class AttemptIn(BaseModel):
    """One attempt at the door. `delivered` needs `proof_kind` and `proof` (the consumer's
    code, or the handheld's photo or signature reference); `failed` needs `reason`."""

    attempt_key: Annotated[str, Field(min_length=8, max_length=MAX_KEY)] = Field(
        description="the handheld's key for this attempt: a retry sends the same key"
    )
    outcome: Outcome
    proof_kind: ProofKind | None = None
    proof: Annotated[str | None, Field(max_length=200)] = None
    reason: FailReason | None = None


class AttemptOut(BaseModel):
    label: str
    outcome: str
    state: str | None = Field(description="the parcel's state now")
    at: datetime = Field(description="when the attempt was recorded (the first call's)")
    repeated: bool = Field(description="true: a retried call; nothing was done again")

    @classmethod
    def of(cls, answer: AttemptAnswer) -> AttemptOut:
        return cls(
            label=answer.record.label,
            outcome=answer.attempt.outcome,
            state=answer.record.state,
            at=datetime.fromtimestamp(answer.attempt.at, UTC),
            repeated=answer.repeated,
        )


def router(ctx: WebContext) -> APIRouter:
    """The handheld API's routes (see the module)."""
    api = APIRouter(prefix=PREFIX, tags=["courier"])
    bearer = HTTPBearer(auto_error=False, description="a courier's handheld token, lnc_...")

    def courier(
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer),  # noqa: B008
    ) -> CourierTokenRecord:
        challenge = {"WWW-Authenticate": "Bearer"}
        if credentials is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "a handheld token is needed: Bearer lnc_...",
                challenge,
            )
        with open_reader(ctx.reader_location) as snapshot:
            token = authenticate(snapshot.view, credentials.credentials)
        if token is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "the handheld token is unknown or revoked", challenge
            )
        return token

    who = Depends(courier)

    @api.get("/round", response_model=list[RoundParcelOut])
    def get_round(token: CourierTokenRecord = who) -> list[RoundParcelOut]:
        """The courier's home parcels still to deliver (assigned, or out for delivery)."""
        with open_reader(ctx.reader_location) as snapshot:
            records = snapshot.view.courier_round(token.courier, list(ROUND_STATES))
        return [RoundParcelOut.of(r) for r in records]

    @api.post("/out-for-delivery", response_model=OutOut)
    def out_for_delivery(body: OutIn, token: CourierTokenRecord = who) -> OutOut:
        """Mark parcels out for delivery with this courier; each consumer is sent a one-time
        code to give the courier at the door. All or nothing: one bad label and none is
        marked. A retried call finds them out already."""
        with _refusals(), ctx.store.transaction() as session:
            sent = send_out(session, token, body.labels, ctx.clock.now())
        return OutOut(
            out_for_delivery=[s.record.label for s in sent if s.code is not None],
            already_out=[s.record.label for s in sent if s.code is None],
        )

    @api.post("/parcels/{label}/attempts", response_model=AttemptOut)
    def record_attempt(label: str, body: AttemptIn, token: CourierTokenRecord = who) -> AttemptOut:
        """Delivered (with a proof) or failed (with a reason). A failed parcel is redirected by
        central to the nearest locker or collection point with room, or returned to its
        partner; within `[delivery] choice_window_s` its consumer may choose the site through
        the link in the failed-attempt message. The same `attempt_key` again answers as the
        first call did."""
        link = None
        if body.outcome is Outcome.FAILED and body.reason not in (None, FailReason.REFUSED):
            link = link_for(ctx.config, label, body.attempt_key)
        # No link, no choice: nothing to wait for (no public_url, or no window).
        window = ctx.config.delivery.choice_window_s if link is not None else 0.0
        with _refusals(), ctx.store.transaction() as session:
            answer = attempt(
                session,
                token,
                label,
                body.attempt_key,
                ctx.clock.now(),
                outcome=body.outcome,
                proof_kind=body.proof_kind,
                proof=body.proof,
                reason=body.reason,
                choice_window_s=window,
                choice_link=link,
                quiet=ctx.config.notify.quiet,
            )
        return AttemptOut.of(answer)

    return api


@contextmanager
def _refusals() -> Iterator[None]:
    """The door's refusals as HTTP answers (the transaction has rolled back: nothing changed)."""
    try:
        yield
    except NotOnRound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except (WrongState, KeyReused) as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except (BadProof, Incomplete) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    except DeliveryError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
