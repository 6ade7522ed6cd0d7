"""Parcel search (by label prefix) and a parcel's timeline (central/operator/track.py)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from central.errors import UnknownParcel
from central.operator.track import timeline
from central.store.open import open_reader
from central.web.console.render import PREFIX, guarded, page, user_of
from central.web.context import WebContext

# What a search may be: a label or its start (S10 labels are letters and digits).
QUERY_PATTERN = re.compile(r"^[A-Z0-9]{1,13}$")
# Parcels listed for a prefix; the page says when there are more.
SEARCH_ROWS = 50


def add_routes(routes: APIRouter, ctx: WebContext) -> None:
    """GET /console/parcels?q=LABEL-OR-PREFIX."""

    @routes.get(f"{PREFIX}/parcels")
    @guarded
    def parcels(request: Request, q: str = "") -> Response:
        user = user_of(request)
        query = q.strip().upper()
        values: dict[str, Any] = {"q": q, "found": [], "track": None, "problem": None}
        if query and not QUERY_PATTERN.match(query):
            values["problem"] = f"{q!r} is not a label or the start of one (letters and digits)"
        elif query:
            with open_reader(ctx.reader_location) as reader:
                view = reader.view
                found = view.search_parcels(prefix=query, limit=SEARCH_ROWS + 1)
                exact = next((p for p in found if p.label == query), None)
                if exact is None and len(found) == 1:
                    exact = found[0]
                if exact is not None:
                    try:
                        values["track"] = timeline(view, exact.label)
                    except UnknownParcel:
                        values["track"] = None
            values["found"] = found[:SEARCH_ROWS]
            values["more"] = len(found) > SEARCH_ROWS
            if not found:
                values["problem"] = f"no parcel's label starts with {query}"
        return page(request, "parcels.html", user, **values)
