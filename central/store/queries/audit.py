"""The audit log: every door-moving or state-changing operator call (who, when, why)."""

from __future__ import annotations

from central.store.queries.base import Queries


class AuditQueries(Queries):
    """The SQL of the audit log."""
