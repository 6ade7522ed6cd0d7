"""Waiting with a deadline measured on the agent's clock (real, scaled or manual)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from protocols.clock import Clock, ScaledClock, SystemClock

T = TypeVar("T")


async def within(clock: Clock, seconds: float, awaitable: Awaitable[T]) -> T:
    """`awaitable`'s result, or TimeoutError once `seconds` of the clock's time have passed."""
    # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation that
    # arrives as the awaited work completes, and a cancelled poll loop then never stops.
    if isinstance(clock, SystemClock):
        async with asyncio.timeout(seconds):
            return await awaitable
    if isinstance(clock, ScaledClock):
        async with asyncio.timeout(seconds / clock.factor):
            return await awaitable
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
