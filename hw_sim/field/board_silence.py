"""A lock board that stops answering, held long enough for its agent to notice.

An agent calls a board down only after a whole failed read, at its next poll: `retries`
attempts of one reply timeout each, and before each retry a wait for the line to go quiet
(QUIET_SILENCE_TIMEOUTS reply timeouts, edge/drivers/lockboard.py). With the field's
timing (a 1.5 s reply timeout) that is about eleven seconds, and a board silent for
minutes raises a `board_fault` alarm at central long before it answers again.

The simulator's day sets the reply timeout and poll interval in REAL seconds
(hw_sim/network/options.py REAL_REPLY_TIMEOUT_S, REAL_POLL_S: a loaded event loop must not
mistake its own lag for a silent board), so in simulated time the agent needs compression times
longer: 42 to 54 simulated minutes at the default day's x720, twice that at `--minutes 1`. A
silence played for 45 simulated minutes ended before, or just as, the agent could call the
board down, and central never saw a board_fault. Such a silence is no fault the product can be
expected to see; `silence_hours` gives how long to hold it so that the day tests what it means
to test.
"""

from __future__ import annotations

from edge.config import LockBusConfig
from edge.drivers.lockboard import QUIET_SILENCE_TIMEOUTS, RETRY_WAIT_MAX_S
from hw_sim.devices.faults import FaultKind
from hw_sim.devices.site import SimulatedSite
from hw_sim.errors import ConfigError
from protocols.clock import Clock

HOUR_S = 3_600.0
# Faults that leave a board silent on the bus: it hears and never answers, or it is off.
SILENT_KINDS = (FaultKind.NO_REPLY, FaultKind.POWER_LOSS)
# A silence is held at least this many times the agent's worst case to notice it: on a loaded
# day (hundreds of agents on one event loop) polls start late and reads take longer than
# their timeouts say, and the alarm must also travel to central while the board is silent.
NOTICE_MARGIN = 2.0


def noticed_within_s(lock_bus: LockBusConfig) -> float:
    """Seconds (the agent's clock, simulated seconds in the day) at worst from a board's last
    answer to its agent calling it down: the rest of the poll and the poll interval, then
    one whole failed read (edge/drivers/lockboard.py LockBoardDriver.read_board: `retries`
    reply timeouts, and a quiet wait of QUIET_SILENCE_TIMEOUTS reply timeouts plus a retry
    wait before each retry). Assumes one silent board on the bus at a time; the other
    boards' reads take a negligible time."""
    timeout = lock_bus.reply_timeout_s
    retries = lock_bus.retries
    read = retries * timeout + (retries - 1) * (QUIET_SILENCE_TIMEOUTS * timeout + RETRY_WAIT_MAX_S)
    return lock_bus.poll_interval_s + read


def silence_hours(lock_bus: LockBusConfig | None, planned_hours: float) -> float:
    """Simulated hours to hold a board's silence planned for `planned_hours`: the plan, or
    NOTICE_MARGIN times what the agent needs to notice it, whichever is longer.

    Raises ConfigError for a site with no lock bus (a counter) or a plan that is not a
    positive number of hours.
    """
    if lock_bus is None:
        raise ConfigError("a board's silence needs a site with a lock bus (a locker)")
    if not planned_hours > 0:
        raise ConfigError(f"a board's silence lasts a positive time, not {planned_hours} h")
    return max(planned_hours, NOTICE_MARGIN * noticed_within_s(lock_bus) / HOUR_S)


async def play_board_silence(
    sim: SimulatedSite,
    clock: Clock,
    board: int,
    hours: float,
    kind: FaultKind = FaultKind.NO_REPLY,
) -> None:
    """Leave `board` silent (`kind`: NO_REPLY, or POWER_LOSS) for `hours` of `clock`'s time,
    then let it answer again. Give it `silence_hours(...)` for a silence the agent must see.

    Raises ConfigError, changing nothing, for another kind of fault or a board the site
    does not have.
    """
    if kind not in SILENT_KINDS:
        raise ConfigError(f"{kind} does not leave a board silent; use one of {SILENT_KINDS}")
    if not hours > 0:
        raise ConfigError(f"a board's silence lasts a positive time, not {hours} h")
    sim.set_fault(kind, True, board=board)
    try:
        await clock.sleep(hours * HOUR_S)
    finally:
        sim.set_fault(kind, False, board=board)
