"""The link to a pickup code's QR page, for a consumer who has a phone and no e-mail.

An SMS carries only the short form of a code, which a counter's staff can type but a locker's
scanner cannot read; the link opens a page (central/web/code_page.py) that shows the code's
QR. The link is `<public_url>/c/<label>.<token>`, where the token is the code's id (its
8-byte nonce) and an HMAC-SHA256 of the label and the id under central's link key
(`[notify] link_secret_file`, the unsubscribe links' key), cut to MAC_BYTES, in URL-safe
base64: short enough for an SMS, and a link for another code or parcel cannot be made
without the key. The page re-renders the code from the store (it is never in the link).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

from central.notify.config import NotifyConfig
from central.notify.unsubscribe import link_key
from protocols.tokens import NONCE_LENGTH

PATH_PREFIX = "/c/"
# 10 bytes (80 bits) of MAC: a forger online gets one try per request; with the 8-byte id,
# 18 bytes, 24 base64 characters without padding.
MAC_BYTES = 10


@dataclass(frozen=True)
class CodeLinks:
    """Makes and checks code page links under one deployment's public address and key."""

    public_url: str
    key: bytes

    def token(self, label: str, code_id: str) -> str:
        """The path segment for code `code_id` (hex) of parcel `label`."""
        nonce = bytes.fromhex(code_id)
        raw = nonce + self._mac(label, nonce)
        return f"{label}.{base64.urlsafe_b64encode(raw).decode().rstrip('=')}"

    def url(self, label: str, code_id: str) -> str:
        """The link to put in the SMS."""
        return f"{self.public_url.rstrip('/')}{PATH_PREFIX}{self.token(label, code_id)}"

    def opened(self, token: str) -> tuple[str, str] | None:
        """(label, code id) of a genuine token; None for any other text (a forged, cut or
        altered one), compared in constant time."""
        label, dot, tail = token.rpartition(".")
        if not dot or not label or len(label) > 64:
            return None
        try:
            raw = base64.urlsafe_b64decode(tail + "=" * (-len(tail) % 4))
        except (binascii.Error, ValueError):
            return None
        nonce, mac = raw[:NONCE_LENGTH], raw[NONCE_LENGTH:]
        if len(nonce) != NONCE_LENGTH or not hmac.compare_digest(mac, self._mac(label, nonce)):
            return None
        return label, nonce.hex()

    def _mac(self, label: str, nonce: bytes) -> bytes:
        message = b"code-page:" + label.encode() + b":" + nonce
        return hmac.new(self.key, message, hashlib.sha256).digest()[:MAC_BYTES]


def code_links(config: NotifyConfig) -> CodeLinks | None:
    """The deployment's code links; None when [notify] public_url is not set (an SMS then
    carries the short form only). ConfigError naming link_secret_file if its key cannot be
    read or made."""
    if config.public_url is None:
        return None
    return CodeLinks(config.public_url, link_key(config.link_secret_file))
