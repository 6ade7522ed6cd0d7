"""What the day's parts share: the world `Fleet` builds, as the parts see it.

The people (people_day.py), the day's faults (day_faults.py, field_day.py), the live view
(live_view.py) and the verdict (verdict.py) each take the world and act in it; `Fleet` builds
it and runs the plan. They name this protocol rather than `Fleet`, so the parts depend on what
they use and the fleet on the parts, never both ways.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from central.broker import PrivateBroker
from hw_sim.network.central_process import CentralProcess
from hw_sim.network.central_records import CentralRecords
from hw_sim.network.loop_lag import LoopLag
from hw_sim.network.options import SimOptions
from hw_sim.network.sim_site import SimSite
from hw_sim.network.tally import Tally
from protocols.clock import ScaledClock
from protocols.tokens import TokenSigner


class World(Protocol):
    """The simulated network during its day: sites, central's processes, the brokers, clock,
    and what was seen."""

    options: SimOptions
    clock: ScaledClock
    rng: random.Random
    signer: TokenSigner
    tally: Tally
    sites: dict[str, SimSite]
    brokers: list[PrivateBroker]  # site i on broker i mod M
    centrals: list[CentralProcess]  # the day's central processes, the killed ones too
    central_records: CentralRecords
    settled: dict[str, set[str]] | None  # each site's event ids, all at central
    started: float  # time.perf_counter() when the world was made
    loop_lag: LoopLag  # how late the day's loop ran (measured while the day's plan plays)
    progress: Callable[[str], None]

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the sites and the people run on."""
        ...

    def hour(self) -> float:
        """Simulated hours since the day began."""
        ...

    def later(self, hours: float, action: Callable[[], None]) -> None:
        """Run `action` once `hours` of simulated time have passed."""
        ...

    def background(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run `work` beside the day; the day's end waits for it."""
        ...

    def central_has_all(self, site: SimSite) -> bool:
        """Whether central has stored every event `site` has written."""
        ...

    def start_central_member(self, client_id: str, session_expiry_s: int) -> CentralProcess:
        """Start one more central process on the shared subscription."""
        ...
