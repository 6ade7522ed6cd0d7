"""Crash points: the site agent killed at a precise step, to play what `kill -9`, a power cut
or an OOM kill does in the field.

The step played here is the narrowest one a door has: the agent has committed that a door
is being opened (the slot is OPEN_FOR_*, a `door_opened` event is in the outbox) and dies
before the unlock frame reaches the bus. The restarted agent must settle that intent by the
board's reading (edge/site/crash_recovery.py): no jam reported, nothing picked up or deposited
that did not happen, the same code or label working on the next scan.

Two ways to play it:

- `die_before_unlock(agent)`: the agent's own process sends itself SIGKILL at that step (an
  agent in a process of its own: a test's subprocess, a wrapper around `lockernet edge run`).
- `crash_at_next_unlock(agent, rebuild)`: in the simulator's day, where many agents share one
  process: the next unlock never writes its frame, the agent is stopped at once without a
  goodbye, and a new agent built by `rebuild` (same config, same store file, same ports)
  starts in its place. Returns the new agent.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable

from edge.agent import SiteAgent
from edge.drivers.lockboard import LockBoardDriver
from hw_sim.errors import ConfigError

# How long the simulator waits for the armed agent to reach its next unlock (a scan must
# come first) before it gives up on the crash: a day's fault must never hang the day.
REACH_TIMEOUT_S = 600.0


def _driver(agent: SiteAgent) -> LockBoardDriver:
    if agent.driver is None:
        raise ConfigError(f"site {agent.site} has no lock boards: there is no unlock to crash at")
    return agent.driver


def die_before_unlock(agent: SiteAgent) -> None:
    """Arm `agent` so its process kills itself (SIGKILL) when it next sends an unlock: after
    the door's intent is committed, before the frame is written."""
    driver = _driver(agent)

    async def unlock(board: int, lock: int) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    driver.unlock = unlock  # type: ignore[method-assign]


def freeze_before_unlock(agent: SiteAgent) -> asyncio.Event:
    """Arm `agent` so its next unlock never writes its frame and never returns (the process
    froze, or is about to be killed). The event is set when that point is reached."""
    driver = _driver(agent)
    reached = asyncio.Event()

    async def unlock(board: int, lock: int) -> None:
        reached.set()
        await asyncio.Event().wait()  # forever: the frame is never written

    driver.unlock = unlock  # type: ignore[method-assign]
    return reached


async def kill(agent: SiteAgent) -> None:
    """Stop `agent` at once as a killed process would end: its tasks cancelled where they
    are (the frozen unlock included, so nothing undoes the intent), its broker connection
    dropped without an offline message (the last will speaks), its store closed."""
    await agent.stop(graceful=False)


async def crash_at_next_unlock(
    agent: SiteAgent,
    rebuild: Callable[[], SiteAgent],
    timeout_s: float = REACH_TIMEOUT_S,
    going_down: Callable[[], None] | None = None,
) -> SiteAgent | None:
    """Kill `agent` between a door's commit and its unlock frame at its next door opening,
    then start `rebuild()` (a new agent on the same config, store file and ports) in its
    place and return it. Returns None, with `agent` left running and unarmed, if no door is
    opened within `timeout_s` seconds of real time. `going_down` is called just before the
    agent is killed (the simulator marks the site as rebooting)."""
    driver = _driver(agent)
    original = driver.unlock
    reached = freeze_before_unlock(agent)
    try:
        async with asyncio.timeout(timeout_s):
            await reached.wait()
    except TimeoutError:
        driver.unlock = original  # type: ignore[method-assign]
        return None
    if going_down is not None:
        going_down()
    await kill(agent)
    replacement = rebuild()
    await replacement.start()
    return replacement
