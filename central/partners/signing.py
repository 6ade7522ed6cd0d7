"""Standard Webhooks signing (https://www.standardwebhooks.com): the protocol, no I/O.

A message carries three headers: `webhook-id` (the message's id, the same on every retry:
receivers dedupe by it), `webhook-timestamp` (Unix seconds of this attempt: receivers
refuse one far from their clock, which bounds a replay) and `webhook-signature`
("v1," + base64 of HMAC-SHA256 over "<id>.<timestamp>.<body>", keyed with the secret's
decoded bytes). The secret is "whsec_" + base64 of random bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

from central.errors import CentralError

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
# The spec asks for 24 to 64 bytes of key; 32 is HMAC-SHA256's own block-sized choice.
SECRET_BYTES = 32
SIGNATURE_VERSION = "v1"

HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_SIGNATURE = "webhook-signature"


class SecretError(CentralError):
    """A signing secret that is not "whsec_" + base64."""


def new_secret() -> str:
    """A fresh signing secret, "whsec_" + base64 of SECRET_BYTES random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key a secret stands for (its base64 decoded); SecretError if malformed."""
    text = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SecretError("a webhook secret is 'whsec_' followed by base64") from None


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value of one attempt: "v1,<base64 HMAC-SHA256>"."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers of one signed attempt (a JSON body)."""
    return {
        HEADER_ID: message_id,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_SIGNATURE: sign(secret, message_id, timestamp, body),
        "content-type": "application/json",
    }
