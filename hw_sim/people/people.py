"""Simulated people who act only through the hardware, as real ones do.

Nobody here talks to the edge agent: a courier shows codes to the scanner and watches the
doors; when one springs open they use it. "Seeing" a door open is reading the physical
model (a door that swung open since they last looked), never the agent's state. Every wait
reads the site's clock, so a compressed day runs people faster too.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from hw_sim.devices.compartment import Compartment
from hw_sim.devices.faults import FaultKind
from hw_sim.devices.site import LABEL_SYMBOLOGY, QR_SYMBOLOGY, SimulatedSite
from hw_sim.errors import PhysicalError
from protocols.tokens import PICKUP_PREFIX

# Assumptions about people, not from any source: they look at the doors a few times a
# second, give up on a door after some seconds, and need a moment per parcel.
GLANCE_S = 0.2
PATIENCE_S = 15.0
HANDLING_S = 2.0
FORGED_CODE_LENGTH = 170  # as long as a real pickup code (protocols.tokens)
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


@dataclass
class Pace:
    """How quickly a person acts; tests use Pace(0, ...) for brisk people."""

    handling_s: float = HANDLING_S
    glance_s: float = GLANCE_S
    patience_s: float = PATIENCE_S


class Person:
    def __init__(self, site: SimulatedSite, pace: Pace | None = None) -> None:
        self.site = site
        self.clock = site.clock
        self.pace = pace or Pace()

    def _seen_openings(self) -> dict[tuple[int, int], int]:
        return {(c.board, c.slot): c.openings for c in self.site.compartments()}

    async def wait_for_door(self, seen: dict[tuple[int, int], int]) -> Compartment | None:
        """The first door that swung open since `seen` and is open now, or None if none
        opens within the person's patience."""
        deadline = self.clock.monotonic() + self.pace.patience_s
        while True:
            for c in self.site.compartments():
                if c.openings > seen[(c.board, c.slot)] and c.door_open():
                    return c
            if self.clock.monotonic() >= deadline:
                return None
            await self.clock.sleep(self.pace.glance_s)

    async def scan(self, code: str, symbology: str | None) -> None:
        self.site.scan(code, symbology)
        await self.clock.sleep(self.pace.handling_s)

    async def scan_and_wait(self, code: str, symbology: str | None) -> Compartment | None:
        seen = self._seen_openings()
        self.site.scan(code, symbology)
        return await self.wait_for_door(seen)


@dataclass
class DepositReport:
    placed: dict[str, tuple[int, int]] = field(default_factory=dict)  # parcel -> (board, slot)
    no_door: list[str] = field(default_factory=list)  # scanned, but no door opened for it
    left_open: list[tuple[int, int]] = field(default_factory=list)  # would not shut


class Courier(Person):
    """Scans a badge, then each parcel's label; puts each parcel in the door that opened."""

    async def deposit(self, badge: str, parcels: Sequence[str]) -> DepositReport:
        report = DepositReport()
        await self.scan(badge, QR_SYMBOLOGY)
        for parcel in parcels:
            await self.deposit_one(parcel, report)
        return report

    async def deposit_one(self, parcel: str, report: DepositReport) -> None:
        """Scan `parcel`'s label, put it in the door that opens and shut that door; what
        became of it goes into `report`."""
        door = await self.scan_and_wait(parcel, LABEL_SYMBOLOGY)
        if door is None:
            report.no_door.append(parcel)
            return
        await self.clock.sleep(self.pace.handling_s)
        door.place(parcel)
        if door.close_door():
            report.placed[parcel] = (door.board, door.slot)
        else:
            report.left_open.append((door.board, door.slot))


@dataclass
class PickupReport:
    door: tuple[int, int] | None = None
    taken: list[str] = field(default_factory=list)
    door_closed: bool = False


class Consumer(Person):
    """Shows a pickup code, takes what is inside, and closes the door (or walks away)."""

    async def pick_up(self, code: str, close_door: bool = True) -> PickupReport:
        report = PickupReport()
        door = await self.scan_and_wait(code, QR_SYMBOLOGY)
        if door is None:
            return report
        report.door = (door.board, door.slot)
        await self.clock.sleep(self.pace.handling_s)
        report.taken = door.take()
        if close_door:
            report.door_closed = door.close_door()
        return report


_REPAIRS = (
    FaultKind.LOCK_STUCK,
    FaultKind.DOOR_JAMMED,
    FaultKind.DOOR_LEFT_OPEN,
    FaultKind.IR_STUCK,
)


@dataclass
class ServiceReport:
    repaired: list[dict[str, object]] = field(default_factory=list)
    closed: list[tuple[int, int]] = field(default_factory=list)
    emptied: dict[tuple[int, int], list[str]] = field(default_factory=dict)


class Technician(Person):
    """Repairs what is physically broken, closes doors left open, plugs the scanner back in,
    and empties doors the agent opens for them (e.g. to remove expired parcels)."""

    async def service(self) -> ServiceReport:
        report = ServiceReport()
        for fault in self.site.faults():
            kind = FaultKind(fault["kind"])
            if kind in _REPAIRS or kind is FaultKind.SCANNER_UNPLUGGED:
                self.site.set_fault(kind, False, fault.get("board"), fault.get("slot"))
                report.repaired.append(fault)
                await self.clock.sleep(self.pace.handling_s)
        for c in self.site.compartments():
            if c.door_open() and c.close_door():
                report.closed.append((c.board, c.slot))
        return report

    async def empty_doors(self, badge: str, doors: int) -> ServiceReport:
        """Scan the badge and empty each of the next `doors` doors that open."""
        report = ServiceReport()
        seen = self._seen_openings()
        await self.scan(badge, QR_SYMBOLOGY)
        for _ in range(doors):
            door = await self.wait_for_door(seen)
            if door is None:
                break
            seen[(door.board, door.slot)] = door.openings
            report.emptied[(door.board, door.slot)] = door.take()
            if door.close_door():
                report.closed.append((door.board, door.slot))
        return report


@dataclass
class VandalReport:
    forced: list[tuple[int, int]] = field(default_factory=list)
    stolen: dict[tuple[int, int], list[str]] = field(default_factory=dict)
    opened_by_forgery: list[tuple[int, int]] = field(default_factory=list)


class Vandal(Person):
    """Forces doors open and shows forged codes, hoping a door opens."""

    def __init__(self, site: SimulatedSite, seed: int = 0, pace: Pace | None = None) -> None:
        super().__init__(site, pace)
        self._rng = random.Random(seed)  # noqa: S311 - seeded for replay, not secrecy

    async def force_doors(self, count: int) -> VandalReport:
        report = VandalReport()
        closed = [c for c in self.site.compartments() if not c.door_open()]
        for door in self._rng.sample(closed, min(count, len(closed))):
            self.site.set_fault(FaultKind.DOOR_FORCED, True, door.board, door.slot)
            report.forced.append((door.board, door.slot))
            try:
                taken = door.take()
            except PhysicalError:
                taken = []
            if taken:
                report.stolen[(door.board, door.slot)] = taken
            await self.clock.sleep(self.pace.handling_s)
        return report

    def forged_code(self, prefix: str = PICKUP_PREFIX) -> str:
        """Looks like a pickup code; the signature is noise."""
        body = "".join(self._rng.choice(_BASE32) for _ in range(FORGED_CODE_LENGTH))
        return prefix + body

    async def scan_forged(self, attempts: int, prefix: str = PICKUP_PREFIX) -> VandalReport:
        report = VandalReport()
        for _ in range(attempts):
            door = await self.scan_and_wait(self.forged_code(prefix), QR_SYMBOLOGY)
            if door is not None:
                report.opened_by_forgery.append((door.board, door.slot))
        return report
