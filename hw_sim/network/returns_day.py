"""The day's returns: a few consumers send back what they collected at a locker.

After a pickup at a locker, a seeded roll decides whether that consumer returns the parcel.
The partner asks central for a return label for that locker (the central process's returns
desk, hw_sim/network/central_returns.py); the label reaches the consumer like a pickup code,
and hours later they show it at the locker's scanner, put the parcel in the door that opens
and shut it. The returns courier's removal round takes it out with the expired parcels, and
the partner then confirms it back.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from hw_sim.devices.compartment import Compartment
from hw_sim.network.options import HOUR_S, PEOPLE_PACE
from hw_sim.network.sim_site import SimSite
from protocols.labels import make_s10
from protocols.messages import SiteKind, SizeClass
from protocols.tokens import RETURN_PREFIX

if TYPE_CHECKING:
    from hw_sim.network.world import World

# Assumptions, not from a source: one parcel in thirty collected at a locker is sent back
# the same day, half an hour to four hours later; returns are small (apparel, mostly).
RETURN_SHARE = 1 / 30
RETURN_AFTER_H = (0.5, 4.0)
RETURN_SIZE = SizeClass.S
# Return labels: a service indicator and origin no manifest of the day uses (central's
# generated manifests: central/parcels/manifest.py S10_PREFIXES, S10_ORIGINS).
RETURN_SERVICE = "RS"
RETURN_ORIGIN = "SG"
RETURN_SERIAL_BASE = 30_000_000
# Its own seeded stream: returns do not shift the day's other rolls.
RETURN_SEED_OFFSET = 15

Scan = Callable[[SimSite, str], Awaitable[Compartment | None]]


def is_return_label(text: str) -> bool:
    """Whether a code central sent the people is a return label (not a pickup code)."""
    return text.startswith(RETURN_PREFIX)


class ReturnsDay:
    """The consumers who return a parcel, and the partner confirming them back."""

    def __init__(self, fleet: World, scan: Scan) -> None:
        self.fleet = fleet
        self._scan = scan
        self._rng = random.Random(fleet.options.seed + RETURN_SEED_OFFSET)  # noqa: S311 - a model
        self._issued = 0

    def after_pickup(self, site: SimSite, parcel: str) -> None:
        """`parcel` was just collected at `site`: maybe its consumer sends it back."""
        central = next((c for c in self.fleet.centrals if not c.killed), None)
        if site.spec.kind is not SiteKind.LOCKER or central is None:
            return
        if self._rng.random() >= RETURN_SHARE:
            return
        label = make_s10(RETURN_SERVICE, RETURN_SERIAL_BASE + self._issued, RETURN_ORIGIN)
        self._issued += 1
        self.fleet.tally.returns[label] = parcel
        central.issue_returns([(label, parcel, site.spec.id, RETURN_SIZE.value)])

    def label_issued(self, label: str, site: str, text: str) -> None:
        """Central issued the return label `text` for `label` at `site` (on the day's loop):
        the consumer comes back with it later."""
        fleet = self.fleet
        if site not in fleet.sites:
            return
        delay_h = self._rng.uniform(*RETURN_AFTER_H)
        fleet.background(self._drop_off(fleet.sites[site], label, text, delay_h))

    async def _drop_off(self, site: SimSite, label: str, text: str, delay_h: float) -> None:
        fleet = self.fleet
        await fleet.clock.sleep(delay_h * HOUR_S)
        async with site.lock:
            door = await self._scan(site, text)
            if door is None:
                return  # full, or the site could not answer: they take it home again
            await fleet.clock.sleep(PEOPLE_PACE.handling_s)
            door.place(label)
            door.close_door()
            fleet.tally.returns_dropped.add(label)

    def collected(self, labels: list[str]) -> None:
        """The returns courier took these out: the partner confirms the returns among them."""
        returned = [label for label in labels if label in self.fleet.tally.returns]
        central = next((c for c in self.fleet.centrals if not c.killed), None)
        if returned and central is not None:
            central.returns_received(returned)
