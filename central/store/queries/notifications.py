"""Notifications to consumers (e-mail, SMS) and opt-outs."""

from __future__ import annotations

from central.store.queries.base import Queries


class NotificationQueries(Queries):
    """The SQL of notifications to consumers (e-mail, SMS) and opt-outs."""
