"""The day's own device and network faults (the field's are in hw_sim/network/field_day.py):
a silent lock board, an unplugged scanner, a site offline for an hour and a broker restart,
each at a seeded site and a fixed hour, each written in the tally's fault list."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from hw_sim.devices.faults import FaultKind
from hw_sim.field.board_silence import silence_hours
from hw_sim.network.sim_site import SimSite
from protocols.messages import SiteKind

if TYPE_CHECKING:
    from hw_sim.network.world import World

Step = tuple[float, str, Callable[[], Awaitable[None]]]


class DayFaults:
    """Plans and plays the day's device and network faults on a `World`."""

    def __init__(self, fleet: World) -> None:
        self.fleet = fleet

    def plan(self) -> list[Step]:
        """The faults as (simulated hour, "fault", action), at sites picked by the day's
        seeded generator; none for a network without lockers."""
        lockers = [s for s in self.fleet.sites.values() if s.spec.kind is SiteKind.LOCKER]
        plan: list[Step] = []
        if not lockers:
            return plan
        pick = self.fleet.rng.choice

        board_site = pick(lockers)
        plan.append((7.2, "fault", lambda: self._board_silent(board_site, 0.75)))
        scanner_site = pick(lockers)
        plan.append((9.4, "fault", lambda: self._scanner_unplugged(scanner_site, 0.5)))
        offline_site = pick(lockers)
        plan.append((11.0, "fault", lambda: self._site_offline(offline_site, 1.0)))
        plan.append((15.5, "fault", self._broker_restart))
        return plan

    async def _board_silent(self, site: SimSite, hours: float) -> None:
        fleet = self.fleet
        # Held at least twice as long as the agent needs to call the board down under the
        # day's compression (hw_sim/field/board_silence.py), or a compressed silence goes unseen.
        held = silence_hours(site.agent.config.lock_bus, hours)
        board = site.sim.board_ids[0]  # its first board: 0 on a Kerong bus, 1 on the generic
        fleet.tally.faults.append(
            f"{fleet.hour():05.2f}h {site.spec.id} board {board} stops answering "
            f"({held * 60:.0f} min)"
        )
        site.sim.set_fault(FaultKind.NO_REPLY, True, board=board)
        fleet.later(held, lambda: site.sim.set_fault(FaultKind.NO_REPLY, False, board=board))

    async def _scanner_unplugged(self, site: SimSite, hours: float) -> None:
        fleet = self.fleet
        fleet.tally.faults.append(f"{fleet.hour():05.2f}h {site.spec.id} scanner unplugged")
        site.sim.set_fault(FaultKind.SCANNER_UNPLUGGED, True)
        fleet.later(hours, lambda: site.sim.set_fault(FaultKind.SCANNER_UNPLUGGED, False))

    async def _site_offline(self, site: SimSite, hours: float) -> None:
        fleet = self.fleet
        fleet.tally.faults.append(f"{fleet.hour():05.2f}h {site.spec.id} offline for an hour")
        site.agent.link.take_down()
        fleet.later(hours, site.agent.link.bring_up)

    async def _broker_restart(self) -> None:
        # The first broker (the field's kill takes the last): with several, only its
        # sites lose their link.
        fleet = self.fleet
        which = "" if len(fleet.brokers) == 1 else f" (the first of {len(fleet.brokers)})"
        fleet.tally.faults.append(f"{fleet.hour():05.2f}h broker restart{which}")
        await asyncio.to_thread(fleet.brokers[0].restart)
