"""POST /api/partner/milestones: a partner reports its parcels' cross-border milestones
(scope `milestones:write`), with the rows of a feed file (central/parcels/milestone_feed.py).

A partner may report a parcel it owns, or one central has not heard of yet, which then
becomes its own; a row about another's parcel is refused like a bad row ("not a parcel of
yours"). Good rows are recorded and bad ones listed (a 422 naming each, saying how many
others were recorded): each row is a fact on its own, and sending the corrected batch again
whole is safe, since a milestone already recorded is nothing new.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from central.parcels.manifest import RowError
from central.parcels.milestone_events import record_milestone
from central.parcels.milestone_feed import RECORD_CHUNK, check_reports, report_source
from central.partners.keys import Scope
from central.partners.ownership import label_policy
from central.store.open import open_reader
from central.web.context import WebContext

MAX_MILESTONE_ROWS = 10_000


class MilestonesIn(BaseModel):
    """Rows of milestones: label, milestone, at (Unix s or ISO 8601 with zone), and
    optionally location, detail, carrier."""

    milestones: Annotated[list[Any], Field(max_length=MAX_MILESTONE_ROWS)]


class MilestoneRowError(BaseModel):
    index: int = Field(description="the row's position in `milestones`, from 0")
    row: int = Field(description="the row's number, from 1")
    field: str
    message: str


class MilestonesOut(BaseModel):
    recorded: int = Field(description="milestones new to central (or moved earlier)")
    repeated: int = Field(description="milestones central had already: nothing changed")


class MilestonesRejected(MilestonesOut):
    detail: str
    errors: list[MilestoneRowError]


def milestone_routes(
    api: APIRouter, ctx: WebContext, caller: Callable[[Scope], Callable[..., Any]]
) -> None:
    """Add POST /milestones to the partner API's router `api`; `caller(scope)` is its
    dependency that authenticates a request's key for `scope` (an object with `.partner`)."""
    reporter = Depends(caller(Scope.MILESTONES_WRITE))

    @api.post(
        "/milestones",
        response_model=MilestonesOut,
        responses={422: {"model": MilestonesRejected, "description": "bad rows, not recorded"}},
    )
    def report_milestones(body: MilestonesIn, who: Any = reporter) -> Any:
        """Record cross-border milestones of the partner's parcels. Good rows are recorded,
        each once per parcel and milestone (a repeat changes nothing; an earlier time
        replaces a later one); if any row is bad the answer is 422 listing every bad field
        of every bad row, and how many good rows were recorded."""
        now = ctx.clock.now()
        checked = check_reports(body.milestones, now)
        errors = list(checked.errors)
        out = MilestonesOut(recorded=0, repeated=0)
        partner: str = who.partner
        origin = f"partner {partner}"
        with open_reader(ctx.reader_location) as snapshot:
            label_check = label_policy(snapshot.view).check_for(partner)
        for start in range(0, len(checked.reports), RECORD_CHUNK):
            with ctx.store.transaction() as session:
                for row, report in checked.reports[start : start + RECORD_CHUNK]:
                    known = session.get_parcel(report.label)
                    # A milestone makes an unknown label the reporter's: the label ranges
                    # keep it from squatting one, as for a manifest. Its own parcels pass;
                    # for any other the answer is the same whether the label exists or not.
                    mine = known is not None and known.owner == partner
                    refused = None if mine else label_check(report.label)
                    if refused is not None:
                        errors.append(RowError(row, "label", refused))
                        continue
                    if known is not None and known.owner != partner:
                        errors.append(RowError(row, "label", "not a parcel of yours"))
                        continue
                    new = record_milestone(
                        session,
                        report.label,
                        report.milestone,
                        at=report.at,
                        source=report_source(origin, None, report),
                        now=now,
                        location=report.location,
                        detail=report.detail,
                        owner=partner,
                    )
                    if new:
                        out.recorded += 1
                    else:
                        out.repeated += 1
        if not errors:
            return out
        errors.sort(key=lambda e: e.row)
        bad_rows = len({e.row for e in errors})
        rejected = MilestonesRejected(
            recorded=out.recorded,
            repeated=out.repeated,
            detail=(
                f"{bad_rows} bad row(s) not recorded; the other rows were ({out.recorded} "
                f"recorded, {out.repeated} repeats): send the rows again corrected"
            ),
            errors=[
                MilestoneRowError(index=e.row - 1, row=e.row, field=e.field, message=e.message)
                for e in errors
            ],
        )
        return JSONResponse(rejected.model_dump(), status_code=422)
