"""SMS through an HTTP provider (httpx), in the shape most providers take:

    POST <url>   Authorization: Bearer <api key>   Idempotency-Key: lockernet-<row id>
    {"to": "+6591234567", "from": "<sender>", "text": "...", "reference": "<row id>"}
    -> 2xx {"id": "<provider's message id>"}

The Idempotency-Key is the queue row's: a message sent again after the provider accepted
it (the answer was lost, or central stopped before recording it) is not sent twice by a
provider that honours the key. Errors: 429 (rate limited) and 5xx are retried, no sooner
than the Retry-After the provider gave; any other 4xx (a bad number, a refused sender) is
permanent.
"""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import httpx

from central.notify.config import SmsConfig
from central.notify.transports import SendFailed, read_secret
from central.store.queries.notifications import NotificationRecord

ERROR_SNIPPET = 200


def retry_after_s(value: str | None, now: float) -> float | None:
    """A Retry-After header's wait in seconds: delta-seconds or an HTTP date; None if
    absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        return max(0.0, parsedate_to_datetime(text).timestamp() - now)
    except (TypeError, ValueError):
        return None


class HttpSmsTransport:
    """Sends SMS through the configured provider."""

    def __init__(self, config: SmsConfig, client: httpx.Client | None = None) -> None:
        self.config = config
        self._key = read_secret(config.api_key_file, "notify.sms.api_key_file")
        self._client = client or httpx.Client(timeout=config.timeout_s, follow_redirects=False)

    def close(self) -> None:
        self._client.close()

    def send(self, notification: NotificationRecord) -> str | None:
        """POST it; returns the provider's message id. SendFailed as the module says."""
        n = notification
        body = {
            "to": n.recipient,
            "from": self.config.sender,
            "text": n.body,
            "reference": str(n.id),
        }
        headers = {
            "Authorization": f"Bearer {self._key}",
            "Idempotency-Key": f"lockernet-{n.id}",
        }
        url = self.config.url
        try:
            reply = self._client.post(url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise SendFailed(f"SMS provider {url}: {type(exc).__name__}: {exc}") from exc
        status = reply.status_code
        if 200 <= status < 300:
            try:
                ref = reply.json().get("id")
            except ValueError:
                ref = None
            return str(ref) if ref is not None else None
        said = reply.text[:ERROR_SNIPPET]
        if status == 429 or status >= 500:
            wait = retry_after_s(reply.headers.get("Retry-After"), time.time())
            raise SendFailed(f"SMS provider {url}: HTTP {status} {said}", retry_after_s=wait)
        raise SendFailed(f"SMS provider {url}: HTTP {status} {said}", permanent=True)
