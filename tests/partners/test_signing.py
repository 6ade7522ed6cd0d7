"""Our Standard Webhooks signing, checked by the independent reference implementation
(`standardwebhooks` on PyPI): what we sign it accepts, anything altered it refuses."""

from __future__ import annotations

import base64
import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from central.partners.signing import SecretError, headers, new_secret, secret_key

BODY = b'{"data":{"label":"RR000000011CN","state":"collected"},"type":"parcel.collected"}'


def test_a_new_secret_is_whsec_and_at_least_24_random_bytes() -> None:
    one, two = new_secret(), new_secret()
    assert one.startswith("whsec_") and one != two
    assert len(base64.b64decode(one.removeprefix("whsec_"))) >= 24
    assert secret_key(one) == base64.b64decode(one.removeprefix("whsec_"))
    with pytest.raises(SecretError, match="whsec_"):
        secret_key("whsec_not base64!")


def test_the_reference_implementation_accepts_what_we_sign() -> None:
    secret = new_secret()
    now = int(time.time())
    signed = headers(secret, "msg_1", now, BODY)
    assert signed["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(BODY, signed)["type"] == "parcel.collected"


@pytest.mark.parametrize(
    "change",
    ["body", "id", "timestamp", "secret", "stale"],
)
def test_the_reference_implementation_refuses_anything_altered(change: str) -> None:
    secret = new_secret()
    now = int(time.time())
    signed = headers(secret, "msg_1", now - 3600 if change == "stale" else now, BODY)
    body = BODY
    if change == "body":
        body = BODY.replace(b"collected", b"expired")
    elif change == "id":
        signed["webhook-id"] = "msg_2"
    elif change == "timestamp":
        signed["webhook-timestamp"] = str(now + 1)
    checker = Webhook(new_secret() if change == "secret" else secret)
    with pytest.raises(WebhookVerificationError):
        checker.verify(body, signed)
