"""Delivery partners and their API keys (hashed secrets, scopes)."""

from __future__ import annotations

from central.store.queries.base import Queries


class PartnerQueries(Queries):
    """The SQL of delivery partners and their API keys (hashed secrets, scopes)."""
