"""The store's interface for operating the network and keeping its promise, one aggregate
per pair of protocols: what a snapshot reads (`...View`) and what a transaction writes
(`...Session`).

`StoreView` and `StoreSession` (central.store.base) include each of them; the SQL is in the
matching module of central.store.queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from central.store.queries.audit import AuditEntry
    from central.store.queries.badges import BadgeRecord
    from central.store.queries.deliveries import (
        CourierTokenRecord,
        DeliveryAttemptRecord,
        DeliveryCodeRecord,
    )
    from central.store.queries.milestones import MilestoneRecord
    from central.store.queries.notifications import NewNotification, NotificationRecord
    from central.store.queries.partners import (
        LabelRangeRecord,
        PartnerKeyRecord,
        PartnerRecord,
    )
    from central.store.queries.promise import PromiseOutcome
    from central.store.queries.refusals import RefusalRecord
    from central.store.queries.returns import ReturnLabelRecord
    from central.store.queries.users import UserRecord
    from central.store.queries.webhooks import (
        ClaimedDelivery,
        WebhookDeliveryRecord,
        WebhookEndpointRecord,
    )
    from central.store.records import ParcelRecord

# ---- audit: the audit log: every door-moving or state-changing operator call (who, when, why)


class AuditView(Protocol):
    """What a snapshot reads."""

    def audit_entries(self, limit: int = 200, site: str | None = None) -> list[AuditEntry]:
        """The newest `limit` entries (of one site, if given), newest first."""

    def audit_count(
        self,
        site: str | None,
        actions: Sequence[str],
        outcome: str | None,
        since: float,
        excluding: str | None = None,
    ) -> int:
        """How many entries of `actions` with `outcome` (any, if None; not `excluding`, if
        given) the site (every site, if None) has had at `since` or later."""


class AuditSession(AuditView, Protocol):
    """What a transaction writes."""

    def add_audit(self, entry: AuditEntry) -> int:
        """Append an entry; returns its id."""

    def audit_rename_command(self, old_id: str, new_id: str, outcome: str) -> int:
        """The entries naming command `old_id` (or "task:N", the task that sends it) name
        `new_id` instead, with `outcome`; returns how many."""

    def audit_outcome(self, command_id: str, outcome: str) -> int:
        """The entries of the command `command_id` get `outcome` (the site's answer);
        returns how many."""


# ---- badges: courier badges central signed: issued, listed, revoked


class BadgeView(Protocol):
    """What a snapshot reads."""

    def get_badge(self, badge_id: str) -> BadgeRecord | None:
        """One badge by its id (the signed badge's nonce, hex); None if central never
        issued it."""
        ...

    def list_badges(
        self, *, include_revoked: bool = False, courier: str | None = None
    ) -> list[BadgeRecord]:
        """Badges oldest issue first: the unrevoked ones (or all), of one courier or all."""
        ...

    def revoked_badges_valid_at(self, now: float) -> list[BadgeRecord]:
        """Revoked badges that would still be valid at `now` (Unix s): the revocations a
        site must hold, oldest issue first."""
        ...


class BadgeSession(BadgeView, Protocol):
    """What a transaction writes."""

    def add_badge(self, record: BadgeRecord) -> None:
        """Record an issued badge (its id must be new)."""
        ...

    def revoke_badge(self, badge_id: str, by: str, at: float) -> bool:
        """Mark a badge revoked; False if it is unknown or was revoked already."""
        ...


# ---- partners: delivery partners and their API keys (hashed secrets, scopes)


class PartnerView(Protocol):
    """What a snapshot reads."""

    def get_partner(self, partner: str) -> PartnerRecord | None: ...

    def list_partners(self) -> list[PartnerRecord]: ...

    def get_partner_key(self, key_id: str) -> PartnerKeyRecord | None: ...

    def partner_keys(self, partner: str) -> list[PartnerKeyRecord]:
        """The partner's keys, revoked ones included, oldest first."""

    def partner_parcel(self, partner: str, label: str) -> ParcelRecord | None:
        """The parcel if `partner` owns it; None for another's (no existence leak)."""

    def label_ranges(self, partner: str | None = None) -> list[LabelRangeRecord]:
        """The label ranges of `partner` (None: of every partner), by partner and pattern."""

    def others_parcels_like(self, partner: str, like: str, limit: int) -> list[tuple[str, str]]:
        """(label, owner) of parcels LIKE `like` that another partner owns, by label."""

    def partner_parcels(
        self,
        partner: str,
        *,
        state: str | None = None,
        since: float | None = None,
        after: tuple[float, str] | None = None,
        limit: int = 1000,
    ) -> list[ParcelRecord]:
        """The partner's parcels (in `state`, changed at `since` or later, and after the
        (updated_at, label) `after` in that order), oldest change first, at most `limit`."""


class PartnerSession(PartnerView, Protocol):
    """What a transaction writes."""

    def add_partner(self, record: PartnerRecord) -> bool:
        """Add a partner; False (nothing changed) if its id is taken."""

    def add_partner_key(self, record: PartnerKeyRecord) -> None: ...

    def revoke_partner_key(self, key_id: str, at: float) -> bool:
        """Revoke a key; False if it is unknown or already revoked."""

    def touch_partner_key(self, key_id: str, at: float, older_than: float) -> None:
        """Note the key's use, if its last noted use is before `older_than`."""

    def add_label_range(self, record: LabelRangeRecord) -> bool:
        """Register a label range; False (nothing changed) if its pattern is taken."""

    def remove_label_range(self, partner: str, pattern: str) -> bool:
        """Remove a partner's label range; False if it has no such range."""


# ---- webhooks: webhook endpoints and the deliveries' outbox (Standard Webhooks)


class WebhookView(Protocol):
    """What a snapshot reads."""

    def get_webhook_endpoint(self, endpoint: int) -> WebhookEndpointRecord | None: ...

    def webhook_endpoints(
        self, partner: str, include_disabled: bool = False
    ) -> list[WebhookEndpointRecord]:
        """The partner's endpoints, oldest first (the active ones only, by default)."""

    def webhook_deliveries(
        self, endpoints: Sequence[int], limit: int = 200
    ) -> list[WebhookDeliveryRecord]:
        """The newest `limit` deliveries to `endpoints`, newest first."""


class WebhookSession(WebhookView, Protocol):
    """What a transaction writes."""

    def add_webhook_endpoint(
        self, partner: str, url: str, secret: str, event_types: Sequence[str], at: float
    ) -> int:
        """Add an endpoint; returns its id."""

    def disable_webhook_endpoint(self, endpoint: int, at: float) -> bool:
        """Stop an endpoint and give up what was pending for it; False if unknown or
        already disabled."""

    def enqueue_webhook(
        self, partner: str, message_id: str, event_type: str, payload: str, at: float
    ) -> None:
        """One delivery per active endpoint of `partner` that wants `event_type`; a message
        id an endpoint already has is left as it is."""

    def claim_webhook_deliveries(
        self, now: float, lease_until: float, limit: int
    ) -> list[ClaimedDelivery]:
        """Take up to `limit` due deliveries until `lease_until` (no other claimant gets
        them before the lease runs out)."""

    def webhook_delivered(self, delivery: int, at: float) -> None: ...

    def webhook_retry(self, delivery: int, next_attempt_at: float, error: str) -> None: ...

    def webhook_failed(self, delivery: int, at: float, error: str) -> None: ...

    def webhook_release(self, delivery: int, due_at: float) -> None:
        """A claimed delivery not tried after all: due again, no attempt counted."""

    def requeue_failed_webhooks(self, endpoints: Sequence[int], at: float) -> int:
        """Given-up deliveries to active `endpoints`, due again at `at` with their attempts
        counted afresh; returns how many."""


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

    def scan_refusals(self, site: str | None = None) -> list[RefusalRecord]:
        """Refused scans by site and reason (one site's, or every site's), most first."""
        ...


class RefusalSession(RefusalView, Protocol):
    """What a transaction writes."""

    def count_refusal(self, site: str, reason: str, at: float, detail: str | None) -> None:
        """Count one refused scan at `site` for `reason` (a ScanRefusal value) at `at`."""
        ...


# ---- milestones: cross-border milestones of parcels, each once, by event time


class MilestoneView(Protocol):
    """What a snapshot reads."""

    def milestones(self, label: str) -> list[MilestoneRecord]:
        """The parcel's milestones, oldest event first (ties by name)."""
        ...

    def get_milestone(self, label: str, milestone: str) -> MilestoneRecord | None:
        """The parcel's record of `milestone` (a Milestone value), or None."""
        ...


class MilestoneSession(MilestoneView, Protocol):
    """What a transaction writes."""

    def add_milestone(self, record: MilestoneRecord) -> bool:
        """Record a milestone; False (nothing written) if the parcel already has it."""
        ...

    def move_milestone_earlier(self, record: MilestoneRecord) -> bool:
        """Replace the stored report with `record` if its event time is earlier (the
        first `received_at` stays); False if it is not earlier."""
        ...


# ---- deliveries: home delivery attempts with proofs, and couriers' handheld tokens


class DeliveryView(Protocol):
    """What a snapshot reads."""

    def delivery_attempt(self, attempt_key: str) -> DeliveryAttemptRecord | None:
        """The attempt a handheld made with `attempt_key`; None if none was."""

    def delivery_attempts(self, label: str) -> list[DeliveryAttemptRecord]:
        """A parcel's attempts at the door, oldest first."""

    def delivery_outcomes(self) -> dict[str, int]:
        """Attempts by outcome ("delivered", "failed")."""

    def home_delivery_figures(self) -> dict[str, int]:
        """Home parcels by how their delivery ended: "delivered", "failed_redirected",
        "failed_returned"."""

    def courier_round(
        self, courier: str, states: list[str], limit: int = 1000
    ) -> list[ParcelRecord]:
        """The home-delivery parcels assigned to `courier` in `states`, by label."""

    def delivery_code(self, label: str) -> DeliveryCodeRecord | None:
        """The consumer's one-time code (its hash) for a parcel out for delivery."""

    def get_courier_token(self, token_id: str) -> CourierTokenRecord | None: ...


class DeliverySession(DeliveryView, Protocol):
    """What a transaction writes."""

    def add_delivery_attempt(self, record: DeliveryAttemptRecord) -> bool:
        """Record an attempt; False (nothing written) if its attempt key is taken."""

    def set_delivery_code(self, record: DeliveryCodeRecord) -> None:
        """Set the parcel's one-time code (replacing an older one)."""

    def drop_delivery_code(self, label: str) -> None: ...

    def add_courier_token(self, record: CourierTokenRecord) -> None:
        """Record a new handheld token (its id must be new)."""

    def revoke_courier_token(self, token_id: str, at: float) -> bool:
        """Revoke a token; False if it is unknown or revoked already."""


# ---- returns: consumers' return labels: issued, dropped off, received


class ReturnView(Protocol):
    """What a snapshot reads."""

    def get_return_label(self, return_id: str) -> ReturnLabelRecord | None:
        """One return label by its id; None if central never issued it."""
        ...

    def return_label_for(self, label: str) -> ReturnLabelRecord | None:
        """The return label of the return parcel `label`; None if it is not a return."""
        ...

    def list_return_labels(self, partner: str | None = None) -> list[ReturnLabelRecord]:
        """Return labels oldest issue first, of one partner or all."""
        ...


class ReturnSession(ReturnView, Protocol):
    """What a transaction writes."""

    def add_return_label(self, record: ReturnLabelRecord) -> None:
        """Record an issued return label (its return_id and label must be new)."""
        ...

    def set_return_dropped(
        self, return_id: str, *, site: str, slot: str, at: float, receipt: str
    ) -> bool:
        """Record where and when the return was dropped off (Unix s) and its receipt number;
        False if it was recorded dropped off already (nothing changes then)."""
        ...


# ---- promise: each parcel's deadline and where it stands against it (central/parcels/promise.py)


class PromiseView(Protocol):
    """What a snapshot reads."""

    def promise_outcomes(
        self, since: float | None = None, until: float | None = None
    ) -> list[PromiseOutcome]:
        """Parcels whose promise is decided (met or breached), with a deadline in
        [since, until) (an end open when None), by deadline."""
        ...

    def promise_state_counts(self) -> dict[str, int]:
        """Parcels by SLA state ("unjudged": not looked at yet)."""
        ...


class PromiseSession(PromiseView, Protocol):
    """What a transaction writes."""

    def parcels_without_deadline(self, limit: int) -> list[ParcelRecord]:
        """Parcels with neither a deadline nor an SLA state, at most `limit`."""
        ...

    def parcels_to_judge(self, now: float, limit: int) -> list[ParcelRecord]:
        """Parcels due to be judged at `now` (sla_check_at <= now), soonest first."""
        ...

    def set_promise(
        self,
        label: str,
        state: str | None,
        *,
        deadline_at: float | None,
        sla_state: str,
        check_at: float | None,
        cause: str | None = None,
    ) -> bool:
        """Write the parcel's promise if it is still in `state`; False if it moved on."""
        ...

    def set_promise_watch(self, label: str, check_at: float | None, cause: str | None) -> None:
        """Set when the parcel is judged next (None: never) and where its time was lost."""
        ...


# ---- notifications: notifications to consumers (e-mail, SMS) and opt-outs


class NotificationView(Protocol):
    """What a snapshot reads."""

    def notifications(self, label: str | None = None, limit: int = 200) -> list[NotificationRecord]:
        """Queued messages (of one parcel, if given), oldest first."""
        ...

    def notification_counts(self) -> dict[tuple[str, str], int]:
        """How many messages are in each (channel, status "sent" | "failed" | "pending")."""
        ...

    def next_notification_due(self) -> float | None:
        """When the earliest unsent message is due (Unix s); None if none waits."""
        ...

    def is_opted_out(self, channel: str, recipient: str) -> bool:
        """True if `recipient` (normal form) asked for no more messages on `channel`."""
        ...


class NotificationSession(NotificationView, Protocol):
    """What a transaction writes."""

    def add_notification(self, row: NewNotification) -> int:
        """Queue a message; 1 if written, 0 if its (label, message, step_key, channel) is
        queued already."""
        ...

    def claim_notifications(
        self, now: float, lease_until: float, limit: int
    ) -> list[NotificationRecord]:
        """Take up to `limit` messages due at `now` until `lease_until`, oldest due first."""
        ...

    def notification_sent(self, notification: int, at: float, provider_ref: str | None) -> None:
        """Accepted by the server or provider: never sent again."""
        ...

    def notification_retry(self, notification: int, due_at: float, error: str) -> None:
        """An attempt failed and may succeed later: due again at `due_at`."""
        ...

    def notification_failed(self, notification: int, at: float, error: str) -> None:
        """Given up (a bad address, or out of attempts)."""
        ...

    def add_opt_out(self, channel: str, recipient: str, at: float) -> bool:
        """Record an opt-out (False if recorded already); queued messages to the recipient
        on the channel are given up."""
        ...

    def remove_opt_out(self, channel: str, recipient: str) -> bool:
        """Take an opt-out back; False if there was none."""
        ...
