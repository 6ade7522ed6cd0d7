"""Webhook endpoints and the deliveries' outbox (Standard Webhooks)."""

from __future__ import annotations

from central.store.queries.base import Queries


class WebhookQueries(Queries):
    """The SQL of webhook endpoints and the deliveries' outbox (Standard Webhooks)."""
