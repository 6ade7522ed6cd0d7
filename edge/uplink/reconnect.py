"""How a failed attempt to reach the broker is told: one bounded line, this attempt's reason.

How long the site waits between attempts is the project's one backoff policy
(protocols/backoff.py, RECONNECT: capped exponential with full jitter, and why its cap is 30 s).
"""

from __future__ import annotations

# A broker's or the OS's reason can be long (a TLS chain, a paho reason string): an error
# line is cut here so a log line's length never depends on what came before it.
MAX_REASON_CHARS = 200


def failure_reason(exc: BaseException) -> str:
    """One attempt's failure as `Type: message`, bounded by MAX_REASON_CHARS. Built from
    this attempt's exception only, never from an earlier attempt's text."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if len(text) > MAX_REASON_CHARS:
        text = text[: MAX_REASON_CHARS - 3] + "..."
    return text
