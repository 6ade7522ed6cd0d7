"""The operator API's courier badges: list, issue, revoke (central/operator/badges.py does
the work; these routes only check the role and shape the answer)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, status

from central.errors import CentralError
from central.operator.badges import UnknownBadge, issue_badge, list_badges, revoke_badge
from central.service.loading import load_configured_network
from central.store.open import open_reader
from central.web.api_models import BadgeIssue, BadgeOut, IssuedBadgeOut
from central.web.auth import Role, User, require_role
from central.web.context import WebContext

Viewer = Annotated[User, Depends(require_role(Role.VIEWER))]
Operator = Annotated[User, Depends(require_role(Role.OPERATOR))]


def _badge_out(record: Any) -> BadgeOut:
    return BadgeOut(
        badge_id=record.badge_id,
        courier=record.courier,
        partner=record.partner,
        valid_from=record.valid_from,
        valid_until=record.valid_until,
        issued_at=record.issued_at,
        issued_by=record.issued_by,
        revoked_at=record.revoked_at,
        revoked_by=record.revoked_by,
    )


def badge_routes(api: APIRouter, ctx: WebContext) -> None:
    """Add /badges routes to `api` (the /api router): reading for any login, issuing and
    revoking for operators."""

    @api.get("/badges", response_model=list[BadgeOut], tags=["badges"])
    def badges(
        _user: Viewer,
        include_revoked: bool = False,
        courier: str | None = None,
    ) -> list[BadgeOut]:
        """Courier badges central signed (valid ones, or all)."""
        with open_reader(ctx.reader_location) as reader:
            found = list_badges(reader.view, include_revoked=include_revoked, courier=courier)
        return [_badge_out(b) for b in found]

    @api.post("/badges", response_model=IssuedBadgeOut, tags=["badges"])
    def issue(body: BadgeIssue, user: Operator) -> IssuedBadgeOut:
        """Issue a badge for a courier of a partner, valid `days` from now; 400 naming the
        courier or partner unless the courier is the partner's in central's network file."""
        try:
            issued = issue_badge(
                ctx.store,
                ctx.signer,
                courier=body.courier,
                partner=body.partner,
                days=body.days,
                actor=user.name,
                now=ctx.clock.now(),
                # Read at each issue (a rare call): a courier added to the file counts at once.
                network=load_configured_network(ctx.config),
            )
        except CentralError as exc:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(exc)) from None
        return IssuedBadgeOut(badge=_badge_out(issued.record), text=issued.text)

    @api.post("/badges/{badge_id}/revoke", response_model=BadgeOut, tags=["badges"])
    def revoke(badge_id: str, user: Operator) -> BadgeOut:
        """Revoke a badge: every site is told to refuse it."""
        try:
            record = revoke_badge(
                ctx.store, badge_id=badge_id, actor=user.name, now=ctx.clock.now()
            )
        except UnknownBadge as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
        except CentralError as exc:  # revoked already
            raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(exc)) from None
        return _badge_out(record)
