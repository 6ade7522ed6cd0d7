"""Partners and their API keys: who may call the partner API, and with which scopes.

A key is shown once, as `lnk_<key_id>_<secret>`, and only the SHA-256 of its secret is
kept: the secret is 32 random bytes, so a plain hash (not a slow password hash) is enough,
and a stolen copy of the store gives no usable key. A presented key is found by its id and
its secret's hash compared in constant time (`hmac.compare_digest`).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from central.errors import CentralError
from central.store import StoreSession, StoreView
from central.store.queries.partners import PartnerKeyRecord, PartnerRecord

KEY_PREFIX = "lnk_"
# 8 random bytes name a key (hex: no "_", so the text splits at its separators); 32 are
# its secret (base64url), far beyond guessing.
KEY_ID_BYTES = 8
KEY_SECRET_BYTES = 32
# A key's last use is written at most this often (it would be a write per request).
KEY_USE_NOTED_EVERY_S = 60.0
PARTNER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_PARTNER_NAME = 120


class Scope(enum.StrEnum):
    """What a key lets its partner do."""

    PARCELS_WRITE = "parcels:write"  # submit manifests
    PARCELS_READ = "parcels:read"  # track its own parcels
    WEBHOOKS_MANAGE = "webhooks:manage"  # add, list and remove its webhook endpoints
    MILESTONES_WRITE = "milestones:write"  # report its parcels' cross-border milestones
    RETURNS_WRITE = "returns:write"  # issue consumers' return labels, confirm them received


class PartnerError(CentralError):
    """A partner or key request that cannot be done; the message says what and why."""


@dataclass(frozen=True)
class IssuedKey:
    """A new key: `text` is shown once and never stored."""

    text: str
    record: PartnerKeyRecord


def parse_scopes(text: str) -> tuple[Scope, ...]:
    """ "parcels:read,parcels:write" as scopes; PartnerError naming an unknown one."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise PartnerError(f"--scopes: name at least one of {', '.join(Scope)}")
    scopes: list[Scope] = []
    for name in names:
        try:
            scope = Scope(name)
        except ValueError:
            raise PartnerError(
                f"--scopes: unknown scope {name!r}; the scopes are {', '.join(Scope)}"
            ) from None
        if scope not in scopes:
            scopes.append(scope)
    return tuple(scopes)


def add_partner(session: StoreSession, partner: str, name: str, now: float) -> PartnerRecord:
    """Add a partner; PartnerError if the id is malformed or taken (nothing changed)."""
    if not PARTNER_ID.match(partner):
        raise PartnerError(
            f"partner id {partner!r}: letters, digits, '_', '.' or '-', at most 64, "
            "starting with a letter or digit"
        )
    name = name.strip()
    if not name or len(name) > MAX_PARTNER_NAME:
        raise PartnerError(f"--name: 1 to {MAX_PARTNER_NAME} characters")
    record = PartnerRecord(partner=partner, name=name, created_at=now)
    if not session.add_partner(record):
        raise PartnerError(f"partner {partner} already exists (lockernet partner keys {partner})")
    return record


def known_partner(view: StoreView, partner: str) -> PartnerRecord:
    """The partner; PartnerError naming the command that adds one if it is unknown."""
    record = view.get_partner(partner)
    if record is None:
        raise PartnerError(
            f"no partner {partner!r} (lockernet partner add {partner} --name NAME adds it)"
        )
    return record


def issue_key(
    session: StoreSession, partner: str, scopes: tuple[Scope, ...], now: float
) -> IssuedKey:
    """A new key for a known partner (PartnerError if unknown); its text is returned once."""
    known_partner(session, partner)
    key_id = secrets.token_hex(KEY_ID_BYTES)
    secret = secrets.token_urlsafe(KEY_SECRET_BYTES)
    record = PartnerKeyRecord(
        key_id=key_id,
        partner=partner,
        secret_hash=_hash(secret),
        scopes=tuple(str(s) for s in scopes),
        created_at=now,
    )
    session.add_partner_key(record)
    return IssuedKey(text=f"{KEY_PREFIX}{key_id}_{secret}", record=record)


def revoke_key(session: StoreSession, key_id: str, now: float) -> PartnerKeyRecord:
    """Revoke a key at once (the next request with it gets 401); PartnerError if unknown
    or already revoked."""
    record = session.get_partner_key(key_id)
    if record is None:
        raise PartnerError(f"no API key {key_id!r} (lockernet partner keys PARTNER lists them)")
    if not session.revoke_partner_key(key_id, now):
        raise PartnerError(f"API key {key_id} was already revoked")
    revoked = session.get_partner_key(key_id)
    assert revoked is not None
    return revoked


def authenticate(view: StoreView, text: str) -> PartnerKeyRecord | None:
    """The live key `text` is ("lnk_<key_id>_<secret>"), or None for a malformed, unknown,
    wrong or revoked one (the caller answers all of them alike: 401)."""
    if not text.startswith(KEY_PREFIX):
        return None
    parts = text[len(KEY_PREFIX) :].split("_", 1)
    if len(parts) != 2 or not parts[0] or not parts[1]:
        return None
    record = view.get_partner_key(parts[0])
    if record is None or record.revoked_at is not None:
        return None
    if not hmac.compare_digest(_hash(parts[1]), record.secret_hash):
        return None
    return record


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
