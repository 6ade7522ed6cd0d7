"""Console logins: operator, technician, viewer."""

from __future__ import annotations

from central.store.queries.base import Queries


class UserQueries(Queries):
    """The SQL of console logins: operator, technician, viewer."""
