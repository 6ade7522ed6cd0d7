"""The one way a test waits: poll a condition until it holds, or fail saying what was awaited.

    from tests.eventually import eventually, eventually_async

    reply = eventually(lambda: observer.reply_to(cmd_id), what="the reply to the unlock")
    await eventually_async(lambda: agent.slots[3].state is SlotState.OCCUPIED, 5, "slot 3 taken")

Both return the predicate's first truthy value, so a test can wait for a thing and use it. On
timeout they raise AssertionError: "waited 10 s for <what>; last value: <repr>" (the
description defaults to the predicate's source line). The predicate is always tried at least
once and once more at the deadline, so a slow machine never fails a condition that holds.

A negative check ("no door opened") is not a wait: do the action, then a sentinel that must
come after it on the same path (a later scan, a later command's reply, a later heartbeat),
wait for the sentinel with `eventually`, and then assert the forbidden effect is absent.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

TIMEOUT_S = 15.0  # generous: a loaded CI machine is slow; a passing wait returns at once
INTERVAL_S = 0.02  # polling period; well under any timing a test measures
_LAST_VALUE_CHARS = 300


def describe(predicate: Callable[[], object]) -> str:
    """A readable name for a predicate: its source text for a lambda, else its repr."""
    try:
        source = inspect.getsource(predicate).strip()
    except (OSError, TypeError):  # built-ins, bound methods of C types, code from exec
        return repr(predicate)
    return " ".join(source.split())


def _timed_out(
    predicate: Callable[[], object], timeout: float, what: str, last: object
) -> AssertionError:
    shown = repr(last)
    if len(shown) > _LAST_VALUE_CHARS:
        shown = shown[:_LAST_VALUE_CHARS] + "..."
    return AssertionError(
        f"waited {timeout:g} s for {what or describe(predicate)}; last value: {shown}"
    )


def eventually(
    predicate: Callable[[], T | None],
    timeout: float = TIMEOUT_S,
    what: str = "",
    *,
    interval: float = INTERVAL_S,
) -> T:
    """Call `predicate` every `interval` seconds until it returns something truthy; return that.

    `timeout` is in seconds of the machine's monotonic clock. Raises AssertionError naming
    `what` and the last value seen when the deadline passes. Exceptions from `predicate`
    propagate at once (a broken check is not a check that has not held yet). For code on an
    event loop use `eventually_async`: this form blocks its thread between tries.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise _timed_out(predicate, timeout, what, value)
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))


async def eventually_async(
    predicate: Callable[[], T | None],
    timeout: float = TIMEOUT_S,
    what: str = "",
    *,
    interval: float = INTERVAL_S,
) -> T:
    """`eventually` for a test on an event loop: yields to the loop between tries.

    The parts under test run on the same loop, so the sleep between tries is what lets them
    make progress. Same arguments, return value and AssertionError as `eventually`.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if loop.time() >= deadline:
            raise _timed_out(predicate, timeout, what, value)
        await asyncio.sleep(min(interval, max(0.0, deadline - loop.time())))
