"""How long a site waits before it tries the broker again, and how it says why it failed.

The cap is a trade between two costs. A short cap brings a site's first event to central
soon after its link returns; a long one spreads a whole network's reconnects out when the
broker itself comes back, so they do not all land on it in the same second.

With full jitter (each wait drawn uniformly from [min, ceiling]), sites that have been
failing for a while arrive at the broker at about N / cap per second once it is back, and
any one site is back within `cap` seconds of its link (on average cap / 2):

    2,100 sites, cap 120 s:  ~18 connects/s,  a site back within 120 s (the field's 2 min)
    2,100 sites, cap  30 s:  ~70 connects/s,  a site back within  30 s
    2,100 sites, cap  10 s: ~210 connects/s,  a site back within  10 s

One Mosquitto thread accepts and answers MQTT CONNECTs at thousands per second in the clear
and several hundred per second over TLS (an ECDHE handshake costs it about 1-2 ms of CPU);
each site also publishes its retained state snapshot and starts draining its outbox on
connect. 30 s keeps the worst-case reconnect rate an order of magnitude below what the broker
can take, with room for those snapshots and for central's ingest of the backlog, while
bounding the wait for an event at half a minute. It is also central's own cap
(central/link.py RECONNECT_MAX_S), so the two sides of a link recover on the same scale.
"""

from __future__ import annotations

import random

RECONNECT_MIN_S = 1.0  # a refused connect answers at once: no point hammering faster
RECONNECT_MAX_S = 30.0  # see the module docstring: 2,100 sites / 30 s ~ 70 connects/s
# Doubling stops here: 2**16 s is far past any cap, and the float stays small.
_MAX_DOUBLINGS = 16
# A broker's or the OS's reason can be long (a TLS chain, a paho reason string): an error
# line is cut here so a log line's length never depends on what came before it.
MAX_REASON_CHARS = 200


def backoff_s(failures: int, min_s: float, max_s: float, rng: random.Random) -> float:
    """Seconds to wait after `failures` consecutive failed attempts (>= 1): capped
    exponential with full jitter, always within [min_s, max(min_s, max_s)]."""
    ceiling = min(max_s, min_s * 2 ** min(max(failures, 0), _MAX_DOUBLINGS))
    return rng.uniform(min_s, max(min_s, ceiling))


def failure_reason(exc: BaseException) -> str:
    """One attempt's failure as `Type: message`, bounded by MAX_REASON_CHARS. Built from
    this attempt's exception only, never from an earlier attempt's text."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if len(text) > MAX_REASON_CHARS:
        text = text[: MAX_REASON_CHARS - 3] + "..."
    return text
