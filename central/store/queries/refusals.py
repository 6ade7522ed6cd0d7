"""Refused scans counted by site and reason."""

from __future__ import annotations

from central.store.queries.base import Queries


class RefusalQueries(Queries):
    """The SQL of refused scans counted by site and reason."""
