"""Courier badges central signed: issued, listed, revoked."""

from __future__ import annotations

from central.store.queries.base import Queries


class BadgeQueries(Queries):
    """The SQL of courier badges central signed: issued, listed, revoked."""
