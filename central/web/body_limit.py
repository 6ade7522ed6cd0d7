"""A cap on request bodies, for every route of central's HTTP app.

Starlette reads a body whole before a route sees it, and uvicorn sets no limit: without
this, anyone who can reach the port (no login needed) could make the process hold a body
as large as they cared to send. A body over its route's cap gets 413 naming the cap: at
once if its Content-Length says so, else as soon as the bytes received pass it.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Every call but a manifest is a small JSON body or form: 1 MiB is far beyond any of them.
BODY_MAX_BYTES = 1024 * 1024
# A manifest carries up to 10,000 rows (central/partners/api.py MAX_MANIFEST_ROWS) of a few
# hundred bytes each.
MANIFEST_PATH = "/api/partner/manifests"
MANIFEST_MAX_BYTES = 32 * 1024 * 1024
_STATUS = 413


class BodyLimit:
    """ASGI middleware: 413 for a body over its route's cap (see the module)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = MANIFEST_MAX_BYTES if scope["path"] == MANIFEST_PATH else BODY_MAX_BYTES
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await JSONResponse({"detail": too_large(limit)}, _STATUS)(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Raised inside the route's reading of its body: FastAPI passes an
                    # HTTPException on as it is, and answers it.
                    raise HTTPException(_STATUS, too_large(limit))
            return message

        await self.app(scope, counted, send)


def too_large(limit: int) -> str:
    """The 413's detail."""
    return f"the request body is too large: at most {limit} bytes here"


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
