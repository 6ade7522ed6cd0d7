"""Consumers' return labels: issued, dropped off, received."""

from __future__ import annotations

from central.store.queries.base import Queries


class ReturnQueries(Queries):
    """The SQL of consumers' return labels: issued, dropped off, received."""
