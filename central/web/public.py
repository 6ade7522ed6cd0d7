"""(being written)"""

from __future__ import annotations

from fastapi import APIRouter

from central.web.context import WebContext


def router(ctx: WebContext) -> APIRouter:
    """The routes of this module."""
    return APIRouter()
