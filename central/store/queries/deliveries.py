"""Home delivery attempts with proofs, and couriers' handheld tokens."""

from __future__ import annotations

from central.store.queries.base import Queries


class DeliveryQueries(Queries):
    """The SQL of home delivery attempts with proofs, and couriers' handheld tokens."""
