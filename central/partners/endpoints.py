"""A partner's webhook endpoints: added (its signing secret shown once), listed, removed.
The one set of rules for the `lockernet partner webhook` commands and the partner API."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from central.partners.keys import PartnerError, known_partner
from central.partners.outbox import ALL_EVENT_TYPES
from central.partners.signing import new_secret
from central.store import StoreSession, StoreView
from central.store.queries.webhooks import WebhookDeliveryRecord, WebhookEndpointRecord

MAX_URL_CHARS = 2000
# Endpoints one partner may have at once: each gets every message of every parcel.
MAX_ENDPOINTS_PER_PARTNER = 10


@dataclass(frozen=True)
class AddedEndpoint:
    """A new endpoint; `record.secret` is the signing secret, shown to its partner once."""

    record: WebhookEndpointRecord


def check_url(url: str) -> str:
    """An https:// URL with a host (http:// only to a loopback host: a test's or a local
    receiver); PartnerError saying what is wrong and why."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise PartnerError(f"webhook url {url[:80]!r}: an https:// URL with a host")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        # A webhook carries parcel events and its signature; over plain http anyone on the
        # way reads them and can replay them within the signature's tolerance.
        raise PartnerError(
            f"webhook url {url[:80]!r}: use https:// (http:// only to a loopback host such "
            "as 127.0.0.1 or localhost): a plain http request can be read and replayed on "
            "its way"
        )
    if len(url) > MAX_URL_CHARS:
        raise PartnerError(f"webhook url: at most {MAX_URL_CHARS} characters")
    return url


def is_loopback(host: str) -> bool:
    """True for localhost (and *.localhost, RFC 6761) and loopback addresses (127/8, ::1)."""
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_event_types(types: Sequence[str]) -> tuple[str, ...]:
    """Known message types, each once (empty: every type); PartnerError naming an unknown."""
    chosen: list[str] = []
    for name in (t.strip() for t in types):
        if not name:
            continue
        if name not in ALL_EVENT_TYPES:
            raise PartnerError(
                f"unknown event type {name!r}; the types are {', '.join(ALL_EVENT_TYPES)}"
            )
        if name not in chosen:
            chosen.append(name)
    return tuple(chosen)


def add_endpoint(
    session: StoreSession, partner: str, url: str, event_types: Sequence[str], now: float
) -> AddedEndpoint:
    """Add an endpoint for a known partner, with a fresh signing secret. PartnerError for an
    unknown partner, a bad URL or event type, or too many endpoints (nothing changed)."""
    known_partner(session, partner)
    url = check_url(url)
    types = check_event_types(event_types)
    if len(session.webhook_endpoints(partner)) >= MAX_ENDPOINTS_PER_PARTNER:
        raise PartnerError(
            f"partner {partner} has {MAX_ENDPOINTS_PER_PARTNER} webhook endpoints already; "
            "remove one first"
        )
    endpoint = session.add_webhook_endpoint(partner, url, new_secret(), types, now)
    record = session.get_webhook_endpoint(endpoint)
    assert record is not None
    return AddedEndpoint(record)


def remove_endpoint(session: StoreSession, partner: str, endpoint: int, now: float) -> bool:
    """Disable the partner's endpoint (its pending deliveries given up); False if the
    partner has no such active endpoint (another partner's counts as none)."""
    record = session.get_webhook_endpoint(endpoint)
    if record is None or record.partner != partner or record.disabled_at is not None:
        return False
    return session.disable_webhook_endpoint(endpoint, now)


def retry_failed(
    session: StoreSession, partner: str, now: float, endpoint: int | None = None
) -> int:
    """Send again what was given up for the partner's active endpoints (or one of them),
    from the first attempt, once its receiver is fixed. Returns how many; PartnerError for
    an unknown partner or an endpoint it has not (active)."""
    known_partner(session, partner)
    active = [e.id for e in session.webhook_endpoints(partner)]
    if endpoint is not None:
        if endpoint not in active:
            raise PartnerError(f"partner {partner} has no active webhook endpoint {endpoint}")
        active = [endpoint]
    return session.requeue_failed_webhooks(active, now)


def deliveries(view: StoreView, partner: str, limit: int = 200) -> list[WebhookDeliveryRecord]:
    """The newest deliveries to any of the partner's endpoints, removed ones included."""
    ids = [e.id for e in view.webhook_endpoints(partner, include_disabled=True)]
    return view.webhook_deliveries(ids, limit)
