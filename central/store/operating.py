"""The store's interface for operating the network (issue 14), one aggregate per pair of
protocols: what a snapshot reads (`...View`) and what a transaction writes (`...Session`).

`StoreView` and `StoreSession` (central.store.base) include each of them; the SQL is in the
matching module of central.store.queries.
"""

from __future__ import annotations

from typing import Protocol

# ---- audit: the audit log: every door-moving or state-changing operator call (who, when, why)


class AuditView(Protocol):
    """What a snapshot reads."""


class AuditSession(AuditView, Protocol):
    """What a transaction writes."""


# ---- badges: courier badges central signed: issued, listed, revoked


class BadgeView(Protocol):
    """What a snapshot reads."""


class BadgeSession(BadgeView, Protocol):
    """What a transaction writes."""


# ---- partners: delivery partners and their API keys (hashed secrets, scopes)


class PartnerView(Protocol):
    """What a snapshot reads."""


class PartnerSession(PartnerView, Protocol):
    """What a transaction writes."""


# ---- webhooks: webhook endpoints and the deliveries' outbox (Standard Webhooks)


class WebhookView(Protocol):
    """What a snapshot reads."""


class WebhookSession(WebhookView, Protocol):
    """What a transaction writes."""


# ---- users: console logins: operator, technician, viewer


class UserView(Protocol):
    """What a snapshot reads."""


class UserSession(UserView, Protocol):
    """What a transaction writes."""


# ---- refusals: refused scans counted by site and reason


class RefusalView(Protocol):
    """What a snapshot reads."""


class RefusalSession(RefusalView, Protocol):
    """What a transaction writes."""
