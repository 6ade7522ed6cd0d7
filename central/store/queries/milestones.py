"""Cross-border milestones of parcels, each once, by event time."""

from __future__ import annotations

from central.store.queries.base import Queries


class MilestoneQueries(Queries):
    """The SQL of cross-border milestones of parcels, each once, by event time."""
