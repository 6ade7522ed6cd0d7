"""How long a site waits before it tries the broker again, and how it says why it failed.

The cap is a trade between two costs. A short cap brings a site's first event to central
soon after its link returns; a long one spreads a whole network's reconnects out when the
broker itself comes back, so they do not all land on it in the same second.

With full jitter (each wait drawn uniformly from [min, ceiling]), sites that have been
failing for a while come back once the broker is, spread over one cap. Simulated with this
module's backoff (2,100 sites, a 10-minute outage; tests/bench/reconnect_storm.py):

    cap 120 s: back p50 35 s, p99 108 s, max 118 s; peak  53 connects/s
    cap  30 s: back p50  9 s, p99  27 s, max  30 s; peak 144 connects/s
    cap  10 s: back p50  3 s, p99   9 s, max  10 s; peak 387 connects/s

One Mosquitto thread answered 3,700-5,200 MQTT CONNECTs per second in the clear on a shared
2-core test machine (tests/bench/broker_connect_rate.py); over TLS an ECDHE handshake costs
it about 1-2 ms of CPU (an estimate, not measured here), some hundreds per second. Each site
also publishes its retained state snapshot and starts draining its outbox on connect. A 30 s
cap keeps the peak an order of magnitude below what the broker takes in the clear and within
it over TLS, with room for those snapshots and for central's ingest of the backlog, while
bounding the wait for a site's first event at half a minute (9 s for half the sites). It is
also central's own cap (central/service/link.py RECONNECT_MAX_S): both ends recover on one scale.
"""

from __future__ import annotations

import random

RECONNECT_MIN_S = 1.0  # a refused connect answers at once: no point hammering faster
RECONNECT_MAX_S = 30.0  # see the module docstring: 2,100 sites peak at ~144 connects/s
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
