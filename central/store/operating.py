"""The store's interface for operating the network (issue 14), one aggregate per pair of
protocols: what a snapshot reads (`...View`) and what a transaction writes (`...Session`).

`StoreView` and `StoreSession` (central.store.base) include each of them; the SQL is in the
matching module of central.store.queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from central.store.queries.audit import AuditEntry
    from central.store.queries.users import UserRecord

# ---- audit: the audit log: every door-moving or state-changing operator call (who, when, why)


class AuditView(Protocol):
    """What a snapshot reads."""

    def audit_entries(self, limit: int = 200, site: str | None = None) -> list[AuditEntry]:
        """The newest `limit` entries (of one site, if given), newest first."""

    def audit_count(self, site: str, actions: Sequence[str], outcome: str, since: float) -> int:
        """How many entries of `actions` with `outcome` the site has had at `since` or later."""


class AuditSession(AuditView, Protocol):
    """What a transaction writes."""

    def add_audit(self, entry: AuditEntry) -> int:
        """Append an entry; returns its id."""


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

    def get_user(self, name: str) -> UserRecord | None:
        """The login called `name` (disabled or not), None if there is none."""

    def list_users(self) -> list[UserRecord]:
        """Every login, by name."""


class UserSession(UserView, Protocol):
    """What a transaction writes."""

    def add_user(self, record: UserRecord) -> bool:
        """Add a login; False (nothing written) if the name is taken."""

    def disable_user(self, name: str, at: float) -> bool:
        """Disable a login (it can no longer sign in); False if unknown or already disabled."""


# ---- refusals: refused scans counted by site and reason


class RefusalView(Protocol):
    """What a snapshot reads."""


class RefusalSession(RefusalView, Protocol):
    """What a transaction writes."""
