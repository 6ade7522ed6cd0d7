"""The operator console under /console: the island map, a site's slots, alarms, parcels,
diagnostics, badges and the audit log, with live updates (live.py).

Pages are rendered on the server (jinja2 templates in templates/, a little vanilla
JavaScript in static/: no build step, nothing fetched from the internet). Every page needs
a login (central/web/auth.py); what a role may do is checked again on every POST. Reads go
through the read path (a snapshot per page: central.store.open.open_reader), writes through
the store in one transaction each.
"""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from central.operator.fleet import fleet
from central.store.open import open_reader
from central.web.auth import (
    LoginThrottled,
    client_address,
    end_session,
    start_session,
    verify_login,
)
from central.web.console import alarm_pages, badge_pages, live, parcel_pages, site_pages
from central.web.console.island import island_map
from central.web.console.render import (
    LOGIN_PATH,
    PREFIX,
    STATIC_DIR,
    back_to,
    check_csrf,
    guarded,
    page,
    user_of,
)
from central.web.context import WebContext

# The console's own files, served from the package (an allowlist: no path from the URL
# ever reaches the file system).
STATIC_FILES = {"console.css": "text/css", "console.js": "text/javascript"}


def router(ctx: WebContext) -> APIRouter:
    """The console's routes (none of them in the OpenAPI document: they are pages)."""
    routes = APIRouter(include_in_schema=False)

    @routes.get(f"{PREFIX}/login")
    def login_form(request: Request, next: str = f"{PREFIX}/") -> Response:
        return page(request, "login.html", None, next=_local_path(next), failed=False)

    @routes.post(f"{PREFIX}/login")
    @guarded
    def login(
        request: Request,
        name: str = Form(""),
        password: str = Form(""),
        csrf: str = Form(""),
        next: str = Form(f"{PREFIX}/"),
    ) -> Response:
        check_csrf(request, csrf)
        try:
            user = verify_login(
                ctx.store, name, password, ctx.login_throttle, client_address(request)
            )
        except LoginThrottled as exc:
            return page(
                request,
                "login.html",
                None,
                status_code=429,
                next=_local_path(next),
                throttled=str(exc),
            )
        if user is None:
            return page(
                request, "login.html", None, status_code=401, next=_local_path(next), failed=True
            )
        start_session(request, user)
        return back_to(_local_path(next))

    @routes.post(f"{PREFIX}/logout")
    @guarded
    def logout(request: Request, csrf: str = Form("")) -> Response:
        check_csrf(request, csrf)
        end_session(request)
        return back_to(LOGIN_PATH)

    @routes.get(PREFIX)
    def bare() -> Response:
        return RedirectResponse(f"{PREFIX}/", status_code=307)

    @routes.get(f"{PREFIX}/")
    @guarded
    def island(request: Request) -> Response:
        user = user_of(request)
        with open_reader(ctx.reader_location) as reader:
            view = reader.view
            model = island_map(fleet(view), view.list_sites())
        return page(request, "map.html", user, island=model)

    @routes.get(f"{PREFIX}/static/{{name}}")
    def static(name: str) -> Response:
        media = STATIC_FILES.get(name)
        if media is None:
            return HTMLResponse("not found", status_code=404)
        return FileResponse(STATIC_DIR / name, media_type=media)

    for module in (site_pages, alarm_pages, parcel_pages, badge_pages):
        module.add_routes(routes, ctx)
    live.add_routes(routes, ctx)
    return routes


def _local_path(target: str) -> str:
    """`target` if it is a path of this console, else the map: a login link cannot send
    the browser to another site after signing in (an open redirect)."""
    if target.startswith(f"{PREFIX}/") and not target.startswith("//") and "\\" not in target:
        return target
    return f"{PREFIX}/"
