"""The ASGI app: every router of central's HTTP surface, mounted once."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.sessions import SessionMiddleware

from central.web.auth import session_middleware_options
from central.web.body_limit import BodyLimit
from central.web.context import WebContext

API_TITLE = "lockernet central"
API_VERSION = "1"


def create_app(ctx: WebContext) -> FastAPI:
    """The app for one central deployment. Routers, each in its own module:

    - /api/...           operator API (central/web/operator_api.py), logins and roles (auth.py)
    - /api/partner/...   partner API and webhooks (central/partners/api.py)
    - /api/courier/...   couriers' handheld API: home delivery (central/delivery/api.py)
    - /track/...         the consumers' public tracking page (central/web/public.py)
    - /console/...       the operator console's pages and live updates (central/web/console/)
    - /metrics           Prometheus exposition (central/web/metrics_route.py)
    - /api/notify/...    consumers' opt-outs: unsubscribe links, SMS STOP (central/notify/api.py)
    - /c/...             a pickup code's QR page, linked from an SMS (central/web/code_page.py)
    - /choose/...        a consumer's choice of site after a failed home delivery, and its
                         /api/choose/... (central/delivery/choice_routes.py)
    """
    from central.delivery import api as courier_api
    from central.delivery import choice_routes
    from central.notify import api as notify_api
    from central.partners import api as partner_api
    from central.web import code_page, metrics_route, operator_api, public
    from central.web.console import pages

    app = FastAPI(
        title=API_TITLE,
        version=API_VERSION,
        openapi_url="/api/openapi.json",
        docs_url=None,  # Swagger UI loads from a CDN: the document is served and committed
        redoc_url=None,
    )
    app.state.ctx = ctx
    # Signed cookie sessions for the console and the operator API (central/web/auth.py).
    api = ctx.config.api
    app.add_middleware(
        SessionMiddleware,
        **session_middleware_options(api.session_secret_file, api.session_max_age_s),
    )
    # Outermost: a body too large is refused before any other layer reads it.
    app.add_middleware(BodyLimit)
    routers = (
        operator_api,
        partner_api,
        courier_api,
        notify_api,
        public,
        code_page,
        pages,
        metrics_route,
    )
    for module in routers:
        app.include_router(module.router(ctx))
    app.include_router(choice_routes.router(ctx))
    return app
