"""Central's clock wrong for a moment: the field fault "a central whose clock was stepped".

Sites take central's signed `issued_at` as evidence of the time (edge/site/clock_guard.py), and
the time a site has witnessed is never lowered. So a central whose clock is stepped a day
ahead for a minute (a bad NTP answer, an operator's `date -s`) signs commands "from the
future"; before the site bounded such leaps, one of them dragged the site's trusted time a
day ahead for good, and every pickup code then looked expired and every reservation lapsed.

To play it in a simulated day: give central's `CommandSender` a `WrongClock(day_clock)`
(hw_sim.field.wall_clock) as its clock, send commands inside `central_clock_ahead(wall, seconds)`,
and add `site_time_dragged(agent, day_clock.now())` to the verdict for every site that was
sent one: it must stay None.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from edge.agent import SiteAgent
from edge.site.clock_guard import WITNESS_LEAP_S
from hw_sim.field.wall_clock import WrongClock


@contextlib.contextmanager
def central_clock_ahead(wall: WrongClock, seconds: float) -> Iterator[WrongClock]:
    """Central's clock reads `seconds` ahead inside the block, and is right again after it."""
    wall.step(seconds)
    try:
        yield wall
    finally:
        wall.step(-seconds)


def site_time_dragged(
    agent: SiteAgent, true_now: float, tolerance_s: float = WITNESS_LEAP_S
) -> str | None:
    """Why `agent`'s witnessed time is further than `tolerance_s` ahead of `true_now` (Unix
    seconds, the day's true time), or None if it is not: for the sim's verdict."""
    ahead = agent.clock_guard.proven() - true_now
    if ahead > tolerance_s:
        return f"site {agent.site}: its witnessed time is {ahead:.0f} s ahead of the true time"
    return None
