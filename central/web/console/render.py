"""What every console page shares: the templates, local time, the login check, CSRF and the
one-line messages a page shows after a form was posted.

A page is server-rendered (jinja2) from read models; forms post back to the server, which
checks the session's CSRF token, does the work through the store and redirects (POST,
redirect, GET), so reloading a page never repeats an action.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import quote

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from central.web.auth import Role, User, current_user_or_none
from protocols.localtime import ZONE_LABEL, timestamp

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
PREFIX = "/console"
LOGIN_PATH = f"{PREFIX}/login"
# The session keys the console keeps beside the login (auth.py owns the login's own).
CSRF_KEY = "console_csrf"
FLASH_KEY = "console_flash"
CSRF_FIELD = "csrf"
# Who may do what on the console: the same split as the operator API (central/web/auth.py).
DOOR_ROLES = frozenset({Role.OPERATOR, Role.TECHNICIAN})  # remote open, service, diagnostics
OPERATOR_ROLES = frozenset({Role.OPERATOR})  # acknowledge alarms, badges

Handler = TypeVar("Handler", bound=Callable[..., Response])

# Autoescaped: a site's fault text, a parcel's detail or a reason is shown as typed.
templates = Jinja2Templates(
    env=jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True)
)


def local_time(at: float | None) -> str:
    """A stored time (Unix seconds) as an operator reads it, in Singapore time: "-" for none."""
    return "-" if at is None else timestamp(at)


templates.env.filters["local"] = local_time
templates.env.globals["zone_label"] = ZONE_LABEL


class NotLoggedIn(Exception):
    """The page needs a login: the handler in pages.py redirects to the login form."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class Forbidden(Exception):
    """The user's role may not do this."""

    def __init__(self, needed: frozenset[Role]) -> None:
        names = " or ".join(sorted(r.value for r in needed))
        super().__init__(f"this needs the {names} role")


class BadForm(Exception):
    """A form posted without this session's CSRF token."""


def user_of(request: Request) -> User:
    """The logged-in user; NotLoggedIn (a redirect to the login form) if there is none."""
    user = current_user_or_none(request)
    if user is None:
        path = request.url.path
        if request.url.query:
            path += f"?{request.url.query}"
        raise NotLoggedIn(path)
    return user


def require(user: User, roles: frozenset[Role]) -> None:
    """Forbidden unless `user` has one of `roles`."""
    if user.role not in roles:
        raise Forbidden(roles)


def csrf_token(request: Request) -> str:
    """This session's CSRF token, made at its first form."""
    token = request.session.get(CSRF_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[CSRF_KEY] = token
    return token


def check_csrf(request: Request, posted: str | None) -> None:
    """BadForm unless `posted` is this session's CSRF token (the hidden field of a form
    this console rendered for this session)."""
    token = request.session.get(CSRF_KEY)
    if not isinstance(token, str) or not posted or not hmac.compare_digest(token, posted):
        raise BadForm("the form is out of date or not this console's: reload the page and retry")


def flash(request: Request, text: str, *, error: bool = False) -> None:
    """A message for the next page shown in this session (after a form's redirect)."""
    request.session[FLASH_KEY] = {"text": text, "error": error}


def back_to(path: str) -> RedirectResponse:
    """After a form: see the page again (303, so the browser GETs it)."""
    return RedirectResponse(path, status_code=303)


def login_redirect(next_path: str) -> RedirectResponse:
    """To the login form, coming back to `next_path` after it."""
    return RedirectResponse(f"{LOGIN_PATH}?next={quote(next_path, safe='')}", status_code=303)


def page(
    request: Request,
    name: str,
    user: User | None,
    *,
    status_code: int = 200,
    **values: Any,
) -> HTMLResponse:
    """Render template `name` with the layout's values (the user, the CSRF token, the
    message left by the last form) and the page's own."""
    message = request.session.pop(FLASH_KEY, None)
    context = {
        "user": user,
        "csrf": csrf_token(request),
        "csrf_field": CSRF_FIELD,
        "flash": message if isinstance(message, dict) else None,
        "can_move_doors": user is not None and user.role in DOOR_ROLES,
        "is_operator": user is not None and user.role in OPERATOR_ROLES,
        **values,
    }
    response: HTMLResponse = templates.TemplateResponse(
        request, name, context, status_code=status_code
    )
    return response


def guarded(handler: Handler) -> Handler:
    """Turn the console's refusals into pages: no login -> the login form; a role that may
    not, or a form without this session's CSRF token -> 403 saying why; nothing was done."""

    @functools.wraps(handler)
    def run(*args: Any, **kwargs: Any) -> Response:
        request = kwargs["request"]
        try:
            return handler(*args, **kwargs)
        except NotLoggedIn as exc:
            return login_redirect(exc.next_path)
        except (Forbidden, BadForm) as exc:
            user = current_user_or_none(request)
            return page(request, "refused.html", user, status_code=403, reason=str(exc))

    return cast(Handler, run)
