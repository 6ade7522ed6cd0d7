"""How long to wait before trying again: one policy for every reconnect, reopen and restart.

Capped exponential backoff with full jitter: after the n-th failure in a row the wait is drawn
uniformly from [min_s, min(max_s, min_s * 2**n)]. The jitter is what spreads a crowd: 2,100
sites that lost the broker together, or a whole site's drivers after a power cut, come back
over a spread of seconds, not in the same one (the aioesphomeapi reconnect logic does the same).

The uplink's cap is a trade between two costs. A short cap brings a site's first event to
central soon after its link returns; a long one spreads a whole network's reconnects out when
the broker itself comes back, so they do not all land on it in the same second. Simulated with
this policy (2,100 sites, a 10-minute outage; tests/bench/reconnect_storm.py):

    cap 120 s: back p50 35 s, p99 108 s, max 118 s; peak  53 connects/s
    cap  30 s: back p50  9 s, p99  27 s, max  30 s; peak 144 connects/s
    cap  10 s: back p50  3 s, p99   9 s, max  10 s; peak 387 connects/s

One Mosquitto thread answered 3,700-5,200 MQTT CONNECTs per second in the clear on a shared
2-core test machine (tests/bench/broker_connect_rate.py); over TLS an ECDHE handshake costs
it about 1-2 ms of CPU (an estimate, not measured here), some hundreds per second. Each site
also publishes its retained state snapshot and starts draining its outbox on connect. A 30 s
cap keeps the peak an order of magnitude below what the broker takes in the clear and within
it over TLS, with room for those snapshots and for central's ingest of the backlog, while
bounding the wait for a site's first event at half a minute (9 s for half the sites). Central
reconnects on the same policy (central/service/link.py): both ends recover on one scale.

Pure: no clock and no sleeping here. A loop asks `Backoff.failed()` for its next wait and
sleeps it on its own clock (a simulated clock in the simulator and the tests).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# Doubling stops here: 2**16 times any minimum is far past any cap, and the float stays small.
_MAX_DOUBLINGS = 16


@dataclass(frozen=True)
class BackoffPolicy:
    """The bounds of one kind of retry, in seconds: the shortest wait and the cap."""

    min_s: float
    max_s: float

    def __post_init__(self) -> None:
        if not self.min_s > 0:
            raise ValueError(f"backoff min_s must be above 0 s, not {self.min_s}")
        if self.max_s < self.min_s:
            raise ValueError(f"backoff max_s ({self.max_s} s) is below min_s ({self.min_s} s)")

    def wait_s(self, failures: int, rng: random.Random) -> float:
        """Seconds to wait after `failures` consecutive failed attempts (>= 1; 0 is treated
        as 1): drawn from [min_s, min(max_s, min_s * 2**failures)] with `rng`."""
        return backoff_s(failures, self.min_s, self.max_s, rng)


def backoff_s(failures: int, min_s: float, max_s: float, rng: random.Random) -> float:
    """Seconds to wait after `failures` consecutive failed attempts (>= 1): capped
    exponential with full jitter, always within [min_s, max(min_s, max_s)]."""
    ceiling = min(max_s, min_s * 2 ** min(max(failures, 0), _MAX_DOUBLINGS))
    return rng.uniform(min_s, max(min_s, ceiling))


# The site's and central's MQTT reconnects (the module docstring says why the cap is 30 s).
# A refused connect answers at once: no point hammering faster than once a second.
RECONNECT = BackoffPolicy(min_s=1.0, max_s=30.0)
# A connection lost sooner than this after it was made counts as a failed attempt: the
# backoff goes on growing instead of starting over. Mosquitto drops the older of two clients
# with one id by closing its socket, reason unsaid: without this, two processes with one
# identity (two agents for one site, two centrals with one client id) would take the session
# from each other several times a second.
STABLE_CONNECTION_S = 10.0
# A serial port that went away (an unplugged scanner or RS-485 adapter) and a supervised task
# that died: the first retry comes quickly (a one-off error, a loose plug), later ones back off
# so a port that stays gone or a task that fails on every start (a full disk) costs a log line
# every 15 s or so (the mean of the capped jitter), not a busy loop.
REOPEN = BackoffPolicy(min_s=0.5, max_s=30.0)
RESTART = BackoffPolicy(min_s=0.5, max_s=30.0)


_JITTER = random.Random()  # noqa: S311 - jitter, not a secret


class Backoff:
    """One retry loop's count of failures in a row under a policy.

    `failed()` counts a failure and returns the wait before the next attempt; `succeeded()`
    starts the count over (call it once an attempt has proved itself: a connection that held,
    a port that opened, a task that ran long enough).
    """

    def __init__(self, policy: BackoffPolicy, rng: random.Random | None = None) -> None:
        self.policy = policy
        self.failures = 0
        # Jitter spreads a crowd out; it need not be unpredictable (the simulator seeds it).
        # One shared generator unless a caller brings its own: an agent has a dozen retry
        # loops, and a thousand agents in one simulator process would hold 12,000 generators.
        self._rng = rng or _JITTER

    def failed(self) -> float:
        """Count one more failure; the seconds to wait before trying again."""
        self.failures += 1
        return self.policy.wait_s(self.failures, self._rng)

    def succeeded(self) -> None:
        """The last attempt worked: the next failure waits the shortest time again."""
        self.failures = 0
