"""The people of the simulated day: couriers on their rounds, consumers collecting with the
code central sent them, and the returns courier taking away what expired.

People act only as people do: they scan at the site's scanner, read the site's screen for
the door it names, and put in, take out and shut doors of the simulated compartments. Each
visit runs beside the day (`Fleet.background`); a visit that crashes breaks the verdict.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from edge.agent import SiteAgent
from hw_sim.devices.compartment import Compartment
from hw_sim.network.options import (
    DAY_S,
    HOUR_S,
    PEOPLE_PACE,
    SCREEN_GLANCE_S,
    SCREEN_TIMEOUT_S,
    WALK_AWAY_SHARE,
)
from hw_sim.network.returns_day import ReturnsDay, is_return_label
from hw_sim.network.sim_site import SimSite
from protocols.messages import SiteKind, SlotState
from protocols.tokens import CourierBadge

if TYPE_CHECKING:
    from hw_sim.network.world import World

# Of the consumers sent a code, by a seeded roll: below NEVER_COMES never come (the parcel
# expires and is removed), below COMES_SOON come within hours, the rest late in the day.
NEVER_COMES = 0.08
COMES_SOON = 0.85
LEFT_OPEN_S = 15 * 60.0  # a door a consumer left open is shut by a passer-by this much later


class PeopleDay:
    """The couriers, consumers and returns couriers of one `World`'s day."""

    def __init__(self, fleet: World) -> None:
        self.fleet = fleet
        self.returns = ReturnsDay(fleet, self._scan)

    # ----------------------------------------------------------------------- couriers
    def courier_round(self) -> None:
        """Every site with parcels expected gets a courier, carrying exactly those, unless
        the last round's courier is still there. Rounds do not hold up the day: on a
        loaded machine a round can outlast two simulated hours, and the day's waves, faults
        and consumers go on meanwhile."""
        for site in self.fleet.sites.values():
            if "courier" in site.visiting or site.rebooting:
                continue
            expected = site.agent.store.expected_parcels()
            if expected:
                site.visiting.add("courier")
                self.fleet.background(self._deliver(site, expected))

    def _badge(self, courier: str) -> str:
        fleet = self.fleet
        now = int(fleet.clock.now())
        return fleet.signer.courier_badge(
            CourierBadge(courier, "sim-post", now - 60, now + int(DAY_S), os.urandom(8))
        )

    async def _scan(self, site: SimSite, code: str) -> Compartment | None:
        """Scan, then read the locker's screen until it shows this scan dealt with: the
        door it names, if that door stands open. Reading the door off the screen, rather
        than taking whichever door swung open, keeps a person from taking a slow locker's
        late door (opened for someone who gave up waiting) for their own, however loaded
        the machine and however hard the day is compressed."""
        tally = self.fleet.tally
        agent = site.agent
        ports = site.sim.ports
        if ports is not None and not ports.scanner.plugged:
            tally.gave_up += 1  # a dead scanner: no light, no beep; the person leaves
            return None
        if agent.scanner is not None and not agent.scanner.status.connected:
            # Plugged back in, and the agent has not opened its port again yet (it does at
            # its next try): a code scanned into that gap is lost, as on a port nobody
            # reads, and the person leaves as at an unplugged scanner. Waiting at the screen
            # instead, a courier held the site for a real minute (twelve simulated hours):
            # the rounds passed it by and its parcels were never deposited.
            tally.gave_up += 1
            return None
        before = agent.scans_handled
        site.sim.scan(code, None)
        deadline = time.monotonic() + SCREEN_TIMEOUT_S
        while (line := agent.screen_answer(code, after=before)) is None:
            if site.agent is not agent:
                return None  # the screen went dark: the agent restarted (a field fault)
            remaining = deadline - time.monotonic()
            handled = agent.scans_handled
            if remaining <= 0 or (
                not await agent.wait_scans_handled(handled, min(remaining, SCREEN_GLANCE_S))
                and time.monotonic() >= deadline
            ):
                # A plugged-in scanner whose scan got no answer in a minute: listed, since
                # a hung scan task at the agent would look exactly like this.
                tally.gave_up += 1
                tally.unanswered.append(f"{self.fleet.hour():05.2f}h {site.spec.id}")
                return None
        if line.slot is None:
            return None
        config = agent.slots[line.slot]
        door = site.sim.compartment(config.board, config.lock)
        return door if door.door_open() else None

    async def _deliver(self, site: SimSite, labels: list[str]) -> None:
        try:
            await self._deliver_all(site, labels)
        finally:
            site.visiting.discard("courier")

    async def _deliver_all(self, site: SimSite, labels: list[str]) -> None:
        tally = self.fleet.tally
        async with site.lock:
            await self._scan(site, self._badge(f"courier-{site.spec.id}"))
            for label in labels:
                if site.agent.store.read().expected(label) is None:
                    continue  # the list was made before the last door shut: already in
                if label in tally.placed:
                    # The courier no longer has it: it went into a door on an earlier round.
                    # Fine while the site has not yet seen that door shut (its next poll may be
                    # many simulated minutes away); otherwise the site lost track of a deposit.
                    if not _awaiting_close(site.agent, label):
                        holding = site.agent.store.read().slot_holding(label)
                        tally.broken.append(
                            f"{site.spec.id}: {label} expected again after it went into "
                            f"{tally.placed[label]} (site: {holding})"
                        )
                    continue
                door = await self._scan(site, label)
                await self.fleet.clock.sleep(PEOPLE_PACE.handling_s)
                if door is not None:
                    door.place(label)
                    tally.placed[label] = f"{site.spec.id}/{door.board}/{door.slot}"
                    door.close_door()

    # ---------------------------------------------------------------------- consumers
    def code_issued(self, parcel: str, site: str, text: str) -> None:
        """Central sent a consumer the pick-up code `text` for `parcel` at `site`. Called on
        the thread reading central's replies: the consumer is scheduled on the day's loop.
        A return label (returns_day.py) goes to the consumer sending a parcel back."""
        if is_return_label(text):
            self.fleet.loop.call_soon_threadsafe(self.returns.label_issued, parcel, site, text)
            return
        self.fleet.loop.call_soon_threadsafe(self._schedule_pickup, parcel, site, text)

    def _schedule_pickup(self, parcel: str, site: str, text: str) -> None:
        fleet = self.fleet
        if site not in fleet.sites:
            return
        fleet.tally.codes[parcel] = (site, text, fleet.clock.now())
        roll = fleet.rng.random()
        if roll < NEVER_COMES:
            return  # never comes: the parcel expires and is removed
        soon = roll < COMES_SOON
        delay_h = fleet.rng.uniform(0.3, 6.0) if soon else fleet.rng.uniform(6.0, 14.0)
        fleet.background(self._pick_up(fleet.sites[site], parcel, text, delay_h))

    async def _pick_up(self, site: SimSite, parcel: str, code: str, delay_h: float) -> None:
        fleet = self.fleet
        await fleet.clock.sleep(delay_h * HOUR_S)
        async with site.lock:
            door = await self._scan(site, code)
            if site.spec.kind is SiteKind.COUNTER or door is None:
                return
            await fleet.clock.sleep(PEOPLE_PACE.handling_s)
            taken = door.take()
            if len(taken) > 1 or (taken and taken != [parcel]):
                fleet.tally.taken_twice += 1
            if fleet.options.faults and fleet.rng.random() < WALK_AWAY_SHARE:
                fleet.tally.doors_left_open += 1
                await fleet.clock.sleep(LEFT_OPEN_S)
            door.close_door()
        if taken == [parcel]:
            self.returns.after_pickup(site, parcel)

    # ------------------------------------------------------------------------ returns
    def removal_round(self) -> None:
        """Every site with parcels marked for removal gets the returns courier, unless the
        last one is still there."""
        for site in self.fleet.sites.values():
            if "returns" in site.visiting or site.rebooting:
                continue
            marked = site.agent.store.read().removals()
            if marked:
                site.visiting.add("returns")
                self.fleet.background(self._remove(site, marked))

    async def _remove(self, site: SimSite, labels: list[str]) -> None:
        try:
            await self._remove_all(site, labels)
        finally:
            site.visiting.discard("returns")

    async def _remove_all(self, site: SimSite, labels: list[str]) -> None:
        taken: list[str] = []
        async with site.lock:
            await self._scan(site, self._badge(f"returns-{site.spec.id}"))
            for label in labels:
                door = await self._scan(site, label)
                if door is not None:
                    await self.fleet.clock.sleep(PEOPLE_PACE.handling_s)
                    if label in door.contents:
                        taken += door.take(label)
                    else:
                        self.fleet.tally.broken.append(
                            f"{site.spec.id}: {label} not behind door {door.board}/{door.slot}"
                        )
                    door.close_door()
        self.returns.collected(taken)


def _awaiting_close(agent: SiteAgent, label: str) -> bool:
    return any(
        record.state is SlotState.OPEN_FOR_DEPOSIT and record.open_ref == label
        for record in agent.store.read().slots()
    )
