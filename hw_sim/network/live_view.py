"""The day as it goes: every ten simulated minutes a sample for the report's charts (locker
occupancy, events per second), and once a simulated hour a line of the live view: events,
sites online, occupancy, central's open alarms, its parcels by state, and how late the
simulator's loop ran over the hour (loop_lag.py: p99 and worst, real ms and simulated s).

On a terminal the live view is a rich table that grows by a row an hour; anywhere else (CI,
a log file, a test) it is one plain line an hour through the day's `progress`. Central is
read through central's own read path (`CentralRecords`), the sites through their stores'
public reads.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

from hw_sim.network.loop_lag import LagFigures
from hw_sim.network.options import REAL_REPLY_TIMEOUT_S
from protocols.messages import SiteKind, SlotState

if TYPE_CHECKING:
    from hw_sim.network.world import World

SAMPLE_EVERY_S = 10 * 60.0  # simulated seconds between two samples
SAMPLES_PER_VIEW = 6  # the live view: once a simulated hour
SITES_PER_SLICE = 25  # sites sampled between two turns of the loop


@dataclass(frozen=True)
class HourView:
    """One row of the live view."""

    hour: float
    events: int
    rate: float  # events per real second since the last sample
    online: int
    sites: int
    used: int
    total: int
    open_alarms: dict[str, int]
    parcels: dict[str, int]
    lag: LagFigures | None = None  # the loop's lag since the last row

    def line(self) -> str:
        """The row as one plain line."""
        parcels = ", ".join(f"{state} {n}" for state, n in self.parcels.items())
        alarms = ", ".join(f"{kind} {n}" for kind, n in self.open_alarms.items())
        lag = f" | {self.lag.line()}" if self.lag is not None else ""
        return (
            f"sim {self.hour:05.2f}h | events {self.events} ({self.rate:,.0f}/s) | sites online "
            f"{self.online}/{self.sites} | occupied {self.used}/{self.total} | open alarms: "
            f"{alarms or 'none'} | parcels: {parcels or 'none yet'}{lag}"
        )


class LiveView:
    """Shows each `HourView`: a rich table's row on a terminal `console`, else a plain line
    through `progress`."""

    def __init__(self, progress: Callable[[str], None], console: Console | None = None) -> None:
        self.progress = progress
        self.console = console
        self._rows = 0

    @property
    def rich(self) -> bool:
        """Whether rows go to a terminal as a table (no: plain lines)."""
        return self.console is not None and self.console.is_terminal

    def show(self, view: HourView) -> None:
        """Show one hour of the day."""
        if not self.rich:
            self.progress(view.line())
            return
        assert self.console is not None
        self.console.print(self._table(view, header=self._rows == 0))
        self._rows += 1

    @staticmethod
    def _table(view: HourView, header: bool) -> Table:
        # One table per row with fixed widths: rows printed an hour apart line up under
        # the first one's header, and a warning logged between two rows does not tear it.
        table = Table(box=None, show_header=header, pad_edge=False, header_style="bold")
        table.add_column("sim", width=6, justify="right")
        table.add_column("events", width=8, justify="right")
        table.add_column("/s", width=6, justify="right")
        table.add_column("online", width=9, justify="right")
        table.add_column("occupied", width=11, justify="right")
        table.add_column("open alarms", ratio=1, style="yellow")
        table.add_column("parcels at central", ratio=2)
        table.add_column("lag p99/max ms", width=15, justify="right")
        alarms = ", ".join(f"{kind} {n}" for kind, n in view.open_alarms.items())
        parcels = ", ".join(f"{state} {n}" for state, n in view.parcels.items())
        table.add_row(
            f"{view.hour:05.2f}h",
            str(view.events),
            f"{view.rate:,.0f}",
            f"{view.online}/{view.sites}",
            f"{view.used}/{view.total}",
            Text(alarms) if alarms else Text("none", style="green"),
            Text(parcels or "none yet"),
            _lag_cell(view.lag),
        )
        return table


def _lag_cell(lag: LagFigures | None) -> Text:
    if lag is None:
        return Text("-")
    # Red once the hour's p99 is over the agents' reply timeout: the verdict's limit.
    late = lag.p99_ms > REAL_REPLY_TIMEOUT_S * 1000.0
    return Text(f"{lag.p99_ms:,.0f}/{lag.max_ms:,.0f}", style="red" if late else "")


async def watch(fleet: World, view: LiveView) -> None:
    """Sample `fleet` every ten simulated minutes into its tally, and show the live view
    once a simulated hour, until cancelled. A site whose agent is being replaced (its store
    is closed) is left out."""
    last_events, last_at = 0, time.perf_counter()
    lag_mark = fleet.loop_lag.mark()
    tally = fleet.tally
    while True:
        await fleet.clock.sleep(SAMPLE_EVERY_S)
        used = total = events = 0
        up = [site for site in fleet.sites.values() if not site.rebooting]
        for n, site in enumerate(up, 1):
            if n % SITES_PER_SLICE == 0:
                # The agents' stores are read on the agents' loop: a slice at a time, so
                # the loop serves the devices between slices. Read in one go, 2,100 sites'
                # stores held it about 0.16 s (a busy 2-core machine) every ten simulated
                # minutes: 4 simulated seconds at x24, 15 at x96, in the lag judged.
                await asyncio.sleep(0)
            if site.rebooting:
                continue  # its store was closed while the loop served others
            if site.spec.kind is SiteKind.LOCKER:
                for record in site.agent.store.read().slots():
                    total += 1
                    used += record.state is SlotState.OCCUPIED
            events += site.agent.store.last_seq()
        tally.occupancy.append((fleet.hour(), used, total))
        now = time.perf_counter()
        rate = (events - last_events) / max(1e-6, now - last_at)
        tally.events_per_s.append((fleet.hour(), rate))
        last_events, last_at = events, now
        online = sum(s.agent.link.connected for s in fleet.sites.values())
        if len(tally.occupancy) % SAMPLES_PER_VIEW:
            continue
        states, alarms = await asyncio.to_thread(fleet.central_records.operator_view)
        lag = fleet.loop_lag.figures(since=lag_mark)
        lag_mark = fleet.loop_lag.mark()
        view.show(
            HourView(
                fleet.hour(),
                events,
                rate,
                online,
                len(fleet.sites),
                used,
                total,
                alarms,
                states,
                lag,
            )
        )
