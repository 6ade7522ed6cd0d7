"""Heartbeat and liveness settings for a compressed simulated day.

The site's heartbeat interval and central's staleness and clock-offset limits are in the
agents' and central's (simulated) seconds. Under the day's compression the production
defaults (a beat every 15 s, offline after 60 s, clock alarm past 30 s) would mean
hundreds of beats per real second per site, sites called offline between two of central's
ticks, and real delivery delays multiplied into false clock offsets. These settings keep
the same shape in REAL seconds, the way hw_sim/network/site_setup.py converts its other timers.
"""

from __future__ import annotations

from typing import Any

# A site beats every few real seconds: 2,100 sites make a few hundred small messages a
# second at the broker, whatever the compression.
REAL_HEARTBEAT_S = 5.0
# Central calls a site offline after four missed beats (central/sites/liveness.py MISSED_BEATS);
# its own floor is set to the same, in real seconds.
REAL_STALE_S = 4 * REAL_HEARTBEAT_S
# A heartbeat's trip (site loop, broker, central's network thread) can take a couple of
# real seconds on a loaded machine; the clock-offset alarm must not mistake that for a
# wrong clock. A site whose clock is really off (a fault) is hours off.
REAL_CLOCK_TOLERANCE_S = 10.0
# A site whose clock is off is sent central's signed time at most this often (real seconds;
# central/sites/site_clock.py, a minute in the field): under compression a minute of the day is a
# fraction of a real second, and a site stepped ahead (which central's time cannot pull back)
# would be sent one, and answer with a snapshot, many times a real second.
REAL_TIME_SEND_S = 2 * REAL_HEARTBEAT_S


def site_timing(compression: float) -> dict[str, Any]:
    """Keys to merge into each site config's `timing` section."""
    return {"heartbeat_interval_s": min(3600.0, REAL_HEARTBEAT_S * compression)}


def central_sections(compression: float) -> dict[str, dict[str, Any]]:
    """Sections to merge into central's config."""
    return {
        "liveness": {
            "stale_after_s": REAL_STALE_S * compression,
            "clock_offset_limit_s": REAL_CLOCK_TOLERANCE_S * compression,
            "time_send_interval_s": REAL_TIME_SEND_S * compression,
        }
    }
