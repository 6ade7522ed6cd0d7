"""GET /metrics: the process's Prometheus metrics in the text exposition format.

The registry is the process's own (`WebContext.registry`: the service passes its
`CentralMetrics.registry`), never prometheus_client's global one. The names are listed in
docs/metrics.md. Served without a login, like any scrape target: it shows counts and
timings, no parcel, person or site detail beyond site-level totals.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from central.web.context import WebContext


def router(ctx: WebContext) -> APIRouter:
    """/metrics over `ctx.registry`."""
    routes = APIRouter()
    registry = ctx.registry

    # A plain def: FastAPI runs it in its thread pool, so the scrape's store read (the
    # gauges read at scrape time) never blocks the event loop.
    @routes.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return routes
