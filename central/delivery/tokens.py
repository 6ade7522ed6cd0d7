"""Couriers' handheld tokens: who may call the handheld API (/api/courier), as which courier.

A token is shown once, as `lnc_<token_id>_<secret>`, and only the SHA-256 of its secret is
kept (32 random bytes: a plain hash is enough, and a stolen copy of the store gives no usable
token); a presented one is found by its id and compared in constant time, as partner API keys
are (central/partners/keys.py).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from central.delivery.errors import DeliveryError
from central.store import StoreSession, StoreView
from central.store.queries.deliveries import CourierTokenRecord

TOKEN_PREFIX = "lnc_"  # noqa: S105 - a prefix, not a secret
TOKEN_ID_BYTES = 8
TOKEN_SECRET_BYTES = 32
COURIER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


@dataclass(frozen=True)
class IssuedToken:
    """A new token: `text` is shown once and never stored."""

    text: str
    record: CourierTokenRecord


def issue_token(session: StoreSession, courier: str, partner: str, now: float) -> IssuedToken:
    """A new handheld token for `courier` of `partner` (ids: letters, digits, '_', '.', ':',
    '-'; at most 64); DeliveryError naming the bad one (nothing written)."""
    for name, value in (("courier", courier), ("--partner", partner)):
        if not COURIER_ID.match(value):
            raise DeliveryError(
                f"{name} {value!r}: letters, digits, '_', '.', ':' or '-', at most 64, "
                "starting with a letter or digit"
            )
    token_id = secrets.token_hex(TOKEN_ID_BYTES)
    secret = secrets.token_urlsafe(TOKEN_SECRET_BYTES)
    record = CourierTokenRecord(
        token_id=token_id,
        courier=courier,
        partner=partner,
        secret_hash=_hash(secret),
        created_at=now,
    )
    session.add_courier_token(record)
    return IssuedToken(text=f"{TOKEN_PREFIX}{token_id}_{secret}", record=record)


def revoke_token(session: StoreSession, token_id: str, now: float) -> CourierTokenRecord:
    """Revoke a token at once; DeliveryError if it is unknown or already revoked."""
    record = session.get_courier_token(token_id)
    if record is None:
        raise DeliveryError(f"no handheld token {token_id!r}")
    if not session.revoke_courier_token(token_id, now):
        raise DeliveryError(f"handheld token {token_id} was already revoked")
    return record


def authenticate(view: StoreView, text: str) -> CourierTokenRecord | None:
    """The live token `text` is, or None for a malformed, unknown, wrong or revoked one (the
    caller answers all of them alike: 401)."""
    if not text.startswith(TOKEN_PREFIX):
        return None
    parts = text[len(TOKEN_PREFIX) :].split("_", 1)
    if len(parts) != 2 or not parts[0] or not parts[1]:
        return None
    record = view.get_courier_token(parts[0])
    if record is None or record.revoked_at is not None:
        return None
    if not hmac.compare_digest(_hash(parts[1]), record.secret_hash):
        return None
    return record


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
