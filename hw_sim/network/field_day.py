"""The field's faults in the simulator's day (issue 11): what real sites meet that our own
devices never did, played on a few seeded sites so the verdict of `lockernet sim` covers them.

Each entry is one fault kind from hw_sim's library (hw_sim/devices/faults.py for devices and lines;
wall_clock, store_faults, host_faults, broker_faults, crash_points for the site's computer,
its store and the message path). Where a fault has a check of its own (a second agent must
be refused, a crash must leave the agent serving), a failed check is an invariant break in
the verdict; the rest are held by the verdict's usual checks: every event a site wrote
reaches central once, no effect twice, no parcel in two places, no door without a reason.

Scanner and adapter quirks are switched on from the start of the day at a seeded share of
sites (a network's scanners are a mix of models; its adapters too); the rest happen once
each, at a seeded site, at the hours below.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from hw_sim.devices.faults import FaultKind
from hw_sim.field.broker_faults import kill_broker
from hw_sim.field.crash_points import crash_at_next_unlock
from hw_sim.field.host_faults import DiskFull, start_second_agent
from hw_sim.field.store_faults import lose_store
from protocols.messages import SiteKind

if TYPE_CHECKING:
    from hw_sim.network.sim_site import SimSite
    from hw_sim.network.world import World

log = logging.getLogger(__name__)

HOUR_S = 3_600.0
DAY_S = 86_400.0
# Shares of sites whose scanner differs from its settings all day (hardware.md §3: CR vs
# CR LF disagree often in the field; AIM ids appear unasked; presentation scanners re-read).
CR_LF_SHARE = 0.10
LF_SHARE = 0.05
AIM_ID_SHARE = 0.10
REREAD_SHARE = 0.10
REREADS = 3  # a phone held up for about three seconds
# Real seconds central may take to hold every event of a site before its store is lost. Long:
# on a loaded machine central's ingest may run minutes behind the sites, and a store lost with
# deposits central never heard of leaves those parcels in a compartment nobody knows of.
DRAIN_TIMEOUT_S = 600.0
# The clock stepped four days ahead stays wrong for this long (simulated seconds): "a few
# seconds" in real time under the day's compression, long enough for a timer to tick.
STEP_AHEAD_FOR_S = 10 * 60.0
# Real seconds a crash waits for its site's next door to open before giving up.
CRASH_REACH_TIMEOUT_S = 90.0
# The lost central member's session at the broker: short, as central's own is (300 s in
# production); in the compressed day a few real seconds keep its queued share small.
LOST_MEMBER_SESSION_S = 5
MEMBER_ALIVE_H = 1.0  # simulated hours the lost member takes its share before it dies

Step = tuple[float, str, Callable[[], Awaitable[None]]]


def member_session_s(number: int, centrals: int, faults: bool) -> int | None:
    """The broker session expiry of the day's `number`-th (1-based) of `centrals` central
    processes: the one the field's fault will kill (the last, when there are several) gets
    the lost member's short session, so its queued share is dropped in seconds rather than
    the production five minutes, longer than a compressed day; the others central's default
    (None)."""
    doomed = faults and centrals > 1 and number == centrals
    return LOST_MEMBER_SESSION_S if doomed else None


class FieldFaults:
    """Plans and plays the field's faults on a `World` (its sites, broker, clock, tally)."""

    def __init__(self, fleet: World) -> None:
        self.fleet = fleet
        self.rng = fleet.rng
        self._disk: DiskFull | None = None

    def plan(self) -> list[Step]:
        """The day's field faults as (simulated hour, "fault", action), seeded."""
        fleet = self.fleet
        lockers = [s for s in fleet.sites.values() if s.spec.kind is SiteKind.LOCKER]
        everyone = list(fleet.sites.values())
        if len(lockers) < 6:
            return []  # too small a network to spare sites for faults
        self._scanner_quirks(everyone)
        self._echoing_adapter()
        spare = [s for s in lockers if s.spec.id not in self._pty_sites()]
        picks = self.rng.sample(spare, k=min(6, len(spare)))
        lost, rebooted, stepped, full, crashed, second = (picks + picks)[:6]
        return [
            (4.0, "fault", lambda: self._reboot_at_1970(rebooted, fixed_after_h=4.0)),
            (5.0, "fault", lambda: self._second_agent(second)),
            (7.0, "fault", lambda: self._clock_ahead(stepped)),
            (10.0, "fault", lambda: self._disk_fills(full, hours=0.5)),
            (12.0, "fault", self._central_member_gone),
            (13.0, "fault", lambda: self._crash_before_unlock(crashed)),
            # After the day's deposits: the lost store held parcels central must account for.
            (14.5, "fault", lambda: self._store_lost(lost)),
            (17.5, "fault", self._broker_killed),
        ]

    # ----------------------------------------------------------------- all day, at a share
    def _scanner_quirks(self, sites: list[SimSite]) -> None:
        counts = {"CR LF": 0, "LF": 0, "AIM id": 0, "re-reads": 0}
        for site in sites:
            roll = self.rng.random()
            if roll < CR_LF_SHARE:
                site.sim.set_fault(FaultKind.SCANNER_SUFFIX, True, value=1)
                counts["CR LF"] += 1
            elif roll < CR_LF_SHARE + LF_SHARE:
                site.sim.set_fault(FaultKind.SCANNER_SUFFIX, True, value=2)
                counts["LF"] += 1
            if self.rng.random() < AIM_ID_SHARE:
                site.sim.set_fault(FaultKind.SCANNER_AIM_ID, True)
                counts["AIM id"] += 1
            if self.rng.random() < REREAD_SHARE:
                site.sim.set_fault(FaultKind.SCANNER_REREADS, True, value=REREADS)
                counts["re-reads"] += 1
        described = ", ".join(f"{n} {what}" for what, n in counts.items())
        self.fleet.tally.faults.append(
            f"00.00h scanners that differ from their settings: {described}"
        )

    def _pty_sites(self) -> list[str]:
        return [site_id for site_id, site in self.fleet.sites.items() if site.over_pty]

    def _echoing_adapter(self) -> None:
        # On a site over real ptys, as on a Pi with a half-duplex USB-RS485 adapter: the
        # agent's `echo = "auto"` must notice and drop its own bytes.
        for site_id in self._pty_sites()[:1]:
            site = self.fleet.sites[site_id]
            site.sim.set_fault(FaultKind.ADAPTER_ECHO, True)
            self.fleet.tally.faults.append(f"00.00h {site_id} lock-bus adapter echoes")

    # ------------------------------------------------------------------------- once each
    async def _restart(
        self,
        site: SimSite,
        between: Callable[[], object],
        before_stop: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Stop the site's agent, do `between` (to its store or clock), start a new agent.
        Nobody is at the site meanwhile (its lock is held), and the rounds pass it by.
        `before_stop` runs first, once the site is empty, while the agent still runs."""
        async with site.lock:
            if before_stop is not None:
                await before_stop()
            site.rebooting = True
            try:
                await site.agent.stop()
                between()
                site.agent = site.rebuild()
                await site.agent.start()
            finally:
                site.rebooting = False

    async def _store_lost(self, site: SimSite) -> None:
        fleet = self.fleet
        fleet.tally.faults.append(
            f"{fleet.hour():05.2f}h {site.spec.id} store lost (card replaced)"
        )

        async def drained() -> None:
            # The card dies once central holds everything the site wrote (a store lost with
            # events central never had loses them for real: the fault's cost, not a
            # guarantee's), and what it wrote is kept for the verdict. Both once the site is
            # empty: a courier still at the doors writes door_opened events to this store
            # after any earlier look, and a door opened with its reason lost looks like a
            # door opened for no reason.
            if not await _until(lambda: fleet.central_has_all(site), DRAIN_TIMEOUT_S, every_s=0.5):
                # Said in the day's faults: what follows (parcels expected again) is then
                # the fault's cost, and the verdict's reader should know why.
                fleet.tally.faults.append(
                    f"{fleet.hour():05.2f}h {site.spec.id} store lost before central had all "
                    f"its events ({DRAIN_TIMEOUT_S:.0f} s waited)"
                )
            site.retire_store()

        # Beside the day: waiting for the courier to leave and for central to catch up must
        # not hold up the day's later faults and rounds.
        fleet.background(
            self._restart(site, lambda: lose_store(site.agent.store.path), before_stop=drained)
        )

    async def _reboot_at_1970(self, site: SimSite, fixed_after_h: float) -> None:
        fleet = self.fleet
        fleet.tally.faults.append(
            f"{fleet.hour():05.2f}h {site.spec.id} reboots with its clock at 1970"
        )
        await self._restart(site, site.wall.boot_at_1970)
        fleet.later(fixed_after_h, site.wall.reset)

    async def _clock_ahead(self, site: SimSite) -> None:
        fleet = self.fleet
        fleet.tally.faults.append(f"{fleet.hour():05.2f}h {site.spec.id} clock steps 4 days ahead")
        site.wall.step(4 * DAY_S)
        fleet.later(STEP_AHEAD_FOR_S / HOUR_S, site.wall.reset)

    async def _second_agent(self, site: SimSite) -> None:
        fleet = self.fleet
        hour = fleet.hour()
        outcome = start_second_agent(site.agent)
        said = "refused" if outcome.refused else "NOT refused"
        fleet.tally.faults.append(
            f"{hour:05.2f}h {site.spec.id} second agent started: {said} ({outcome.message})"
        )
        if not outcome.refused:
            fleet.tally.broken.append(f"{site.spec.id}: {outcome.message}")

    async def _disk_fills(self, site: SimSite, hours: float) -> None:
        fleet = self.fleet
        fleet.tally.faults.append(f"{fleet.hour():05.2f}h {site.spec.id} disk full for {hours} h")
        disk = DiskFull(site.agent)
        disk.set(True)
        fleet.later(hours, lambda: disk.set(False))

    async def _central_member_gone(self) -> None:
        fleet = self.fleet
        if len(fleet.centrals) > 1:
            # Several central processes share the day: the last of them, which has taken its
            # share since the morning, dies (its broker session was made short, as the lost
            # member's: `member_session_s`).
            doomed = fleet.centrals[-1]
            fleet.tally.faults.append(f"{fleet.hour():05.2f}h {doomed.name} killed (-9)")
            await asyncio.to_thread(doomed.kill)
            return
        # A central process of the sim's own kind (hw_sim/network/central_process.py), on the day's
        # scaled clock: `lockernet central run` (hw_sim.field.broker_faults.LostCentralMember, used
        # by the tests in real time) would read the real clock, hours behind the day's.
        fleet.tally.faults.append(f"{fleet.hour():05.2f}h a second central joins, then dies (-9)")
        member = await asyncio.to_thread(
            fleet.start_central_member, "sim-central-lost", LOST_MEMBER_SESSION_S
        )
        fleet.later(MEMBER_ALIVE_H, member.kill)

    async def _crash_before_unlock(self, site: SimSite) -> None:
        fleet = self.fleet
        fleet.tally.faults.append(
            f"{fleet.hour():05.2f}h {site.spec.id} killed between a door's commit and its unlock"
        )

        def going_down() -> None:
            site.rebooting = True

        async def crash() -> None:
            try:
                replacement = await crash_at_next_unlock(
                    site.agent, site.rebuild, CRASH_REACH_TIMEOUT_S, going_down
                )
                if replacement is not None:
                    site.agent = replacement
                else:
                    fleet.tally.faults.append(
                        f"{fleet.hour():05.2f}h {site.spec.id}: no door opened in "
                        f"{CRASH_REACH_TIMEOUT_S:.0f} s, the crash was not played"
                    )
            finally:
                site.rebooting = False

        fleet.background(crash())

    async def _broker_killed(self) -> None:
        # The last broker (the day's restart takes the first): with several, only its sites
        # lose their link, and the others' events keep flowing.
        fleet = self.fleet
        which = "" if len(fleet.brokers) == 1 else f" (the last of {len(fleet.brokers)})"
        fleet.tally.faults.append(f"{fleet.hour():05.2f}h broker killed (-9){which}")
        await kill_broker(fleet.brokers[-1])


async def _until(predicate: Callable[[], bool], timeout_s: float, every_s: float = 0.05) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(every_s)
    return True
