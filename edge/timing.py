"""Waiting with a deadline measured on the agent's clock (real, scaled or manual)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from protocols.clock import Clock, ScaledClock, SystemClock

T = TypeVar("T")


async def within(clock: Clock, seconds: float, awaitable: Awaitable[T]) -> T:
    """`awaitable`'s result, or TimeoutError once `seconds` of the clock's time have passed."""
    if isinstance(clock, SystemClock):
        return await asyncio.wait_for(awaitable, seconds)
    if isinstance(clock, ScaledClock):
        return await asyncio.wait_for(awaitable, seconds / clock.factor)
    # Any other clock (a manual one in tests): race the work against the clock's own sleep.
    work = asyncio.ensure_future(awaitable)
    timer = asyncio.ensure_future(clock.sleep(seconds))
    try:
        await asyncio.wait({work, timer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        timer.cancel()
    if work.done():
        return work.result()
    work.cancel()
    raise TimeoutError(f"no result within {seconds} s")
