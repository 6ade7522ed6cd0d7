"""How far the simulator's event loop falls behind its own clock (issue 16 item 3).

One task asks the loop to wake it every LAG_SAMPLE_S real seconds and records how late it
woke. Every agent, device and person of the day waits on the same loop, so each of them is
woken at least that late: a lag of L real seconds puts the simulated world L x compression
simulated seconds behind the day's clock. The figures are weighted by time: each wake-up
stands for the real time since the one before, so a loop that stayed seconds behind for a
minute weighs a minute, not the handful of wake-ups it managed meanwhile.

`behind` is the verdict's rule: the day fails when the loop was too late, in simulated time,
for the limits the agents judge the world by (docs/sim.md, "The verdict").
"""

from __future__ import annotations

import asyncio
import contextlib
from array import array
from dataclasses import dataclass
from typing import Any

LAG_SAMPLE_S = 0.05  # real seconds between two wake-ups asked for: 20 a second, negligible
# The verdict's limit on the share of the day's real time the loop may spend later than the
# agents' board reply timeout (1%: the p99); the longest stall has its own (`behind`).
LAG_SHARE_OVER_REPLY_TIMEOUT = 0.01


@dataclass(frozen=True)
class LagFigures:
    """The loop's lag over a stretch of the day: real milliseconds, time-weighted
    percentiles (`p50_ms`, `p99_ms`), the worst wake-up (`max_ms`), and the same in
    simulated seconds at the day's `compression`. `samples`: wake-ups measured (0: none
    yet, every figure 0)."""

    samples: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    compression: float

    def sim_s(self, ms: float) -> float:
        """Real milliseconds of lag as simulated seconds at the day's compression."""
        return ms / 1000.0 * self.compression

    @property
    def p99_sim_s(self) -> float:
        return self.sim_s(self.p99_ms)

    @property
    def max_sim_s(self) -> float:
        return self.sim_s(self.max_ms)

    def summary(self) -> dict[str, Any]:
        """The figures as summary.json carries them."""
        return {
            "loop_lag_ms_p50": round(self.p50_ms, 1),
            "loop_lag_ms_p99": round(self.p99_ms, 1),
            "loop_lag_ms_max": round(self.max_ms, 1),
            "loop_lag_sim_s_p50": round(self.sim_s(self.p50_ms), 2),
            "loop_lag_sim_s_p99": round(self.p99_sim_s, 2),
            "loop_lag_sim_s_max": round(self.max_sim_s, 2),
            "loop_lag_samples": self.samples,
        }

    def line(self) -> str:
        """One short phrase for the live view: p99 and max, real ms and simulated s."""
        return (
            f"loop lag p99 {self.p99_ms:,.0f} ms ({self.p99_sim_s:,.1f} sim s), "
            f"max {self.max_ms:,.0f} ms ({self.max_sim_s:,.1f} sim s)"
        )


class LoopLag:
    """Measures the running loop's lag from `start` to `stop`; `figures` at any time.

    `compression`: simulated seconds per real second; `interval_s`: real seconds between
    two wake-ups asked for. Raises ValueError for a compression or interval that is not
    positive."""

    def __init__(self, compression: float, interval_s: float = LAG_SAMPLE_S) -> None:
        if not compression > 0 or not interval_s > 0:
            raise ValueError(
                f"a loop-lag monitor needs a positive compression and interval, not "
                f"{compression} and {interval_s} s"
            )
        self.compression = compression
        self.interval_s = interval_s
        # Two flat arrays (lag ms, weight s): a whole day at 20 wake-ups a second is ~1 MiB.
        self._lag_ms = array("d")
        self._weight_s = array("d")
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start measuring on the running loop (once; again after `stop` goes on adding)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="loop lag")

    async def stop(self) -> None:
        """Stop measuring; the figures stay."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def mark(self) -> int:
        """Where the record stands now: `figures(since=mark)` covers what follows."""
        return len(self._lag_ms)

    def record(self, lag_ms: float, weight_s: float) -> None:
        """One wake-up `lag_ms` late that stands for `weight_s` real seconds of the day."""
        self._lag_ms.append(max(0.0, lag_ms))
        self._weight_s.append(max(0.0, weight_s))

    def figures(self, since: int = 0) -> LagFigures:
        """The lag from the `since`-th wake-up on (a `mark`), the whole record by default."""
        pairs = sorted(zip(self._lag_ms[since:], self._weight_s[since:], strict=True))
        if not pairs:
            return LagFigures(0, 0.0, 0.0, 0.0, self.compression)
        return LagFigures(
            samples=len(pairs),
            p50_ms=_weighted_percentile(pairs, 0.50),
            p99_ms=_weighted_percentile(pairs, 0.99),
            max_ms=pairs[-1][0],
            compression=self.compression,
        )

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            due = loop.time() + self.interval_s
            await asyncio.sleep(self.interval_s)
            woke = loop.time()
            self.record((woke - due) * 1000.0, woke - last)
            last = woke


def behind(
    figures: LagFigures, reply_timeout_s: float | None, door_left_open_s: float | None
) -> list[str]:
    """Why the day cannot be judged on its simulated time (empty: it can).

    Both limits are the agents' own, in simulated seconds (None: no agent has one, e.g. no
    locker). `reply_timeout_s`: their board reply timeout. The loop's p99 over it means more
    than 1% of the day ran later than a board is given to answer: the agents' device timing
    (reply timeouts, the bus's quiet waits, the unlock's confirming read) was the
    simulator's load, not the devices'. `door_left_open_s`: their door-left-open limit. A
    stall longer than that froze the world longer than a door may stand open: a person
    holding a door through it had the door reported left open by the simulator."""
    problems = []
    if reply_timeout_s is not None and figures.p99_sim_s > reply_timeout_s:
        problems.append(
            f"the simulator fell behind: its loop ran more than {figures.p99_ms:,.0f} ms "
            f"({figures.p99_sim_s:,.1f} s simulated) late for "
            f"{LAG_SHARE_OVER_REPLY_TIMEOUT:.0%} of the day, beyond the agents' board reply "
            f"timeout ({reply_timeout_s:,.1f} s simulated)"
        )
    if door_left_open_s is not None and figures.max_sim_s > door_left_open_s:
        problems.append(
            f"the simulator fell behind: its loop stood still {figures.max_ms:,.0f} ms "
            f"({figures.max_sim_s:,.1f} s simulated), beyond the agents' door-left-open "
            f"limit ({door_left_open_s:,.0f} s simulated)"
        )
    return problems


def _weighted_percentile(pairs: list[tuple[float, float]], share: float) -> float:
    """The lag under which `share` of the weight lies (`pairs`: (lag, weight), sorted).
    With no weight at all, the plain percentile of the lags."""
    total = sum(weight for _, weight in pairs)
    if total <= 0:
        return pairs[min(len(pairs) - 1, round((len(pairs) - 1) * share))][0]
    reached = 0.0
    for lag, weight in pairs:
        reached += weight
        if reached >= share * total:
            return lag
    return pairs[-1][0]
