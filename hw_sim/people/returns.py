"""Simulated people of a return: the consumer who drops it off, the courier who collects it.

Like everyone in hw_sim/people, they act only through the hardware: a return label shown to
the scanner, a door that springs open used, a door pushed shut.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from hw_sim.devices.site import LABEL_SYMBOLOGY, QR_SYMBOLOGY
from hw_sim.people.people import Person


@dataclass
class DropOffReport:
    door: tuple[int, int] | None = None  # (board, slot) of the door that opened
    placed: bool = False  # the parcel went in and the door shut on it


class Returner(Person):
    """A consumer with a return: shows its label (a QR code), puts the parcel in the door
    that opens and shuts it (or, `change_mind`, shuts it without putting anything in)."""

    async def drop_off(
        self, label_text: str, parcel: str, change_mind: bool = False
    ) -> DropOffReport:
        report = DropOffReport()
        door = await self.scan_and_wait(label_text, QR_SYMBOLOGY)
        if door is None:
            return report
        report.door = (door.board, door.slot)
        await self.clock.sleep(self.pace.handling_s)
        if not change_mind:
            door.place(parcel)
        report.placed = door.close_door() and not change_mind
        return report


@dataclass
class CollectReport:
    collected: list[str] = field(default_factory=list)
    no_door: list[str] = field(default_factory=list)


class ReturnsCourier(Person):
    """A courier sent to collect parcels (returns, expired ones): scans a badge, then each
    parcel's label, takes it out of the door that opens and shuts the door."""

    async def collect(self, badge: str, parcels: Sequence[str]) -> CollectReport:
        report = CollectReport()
        await self.scan(badge, QR_SYMBOLOGY)
        for parcel in parcels:
            door = await self.scan_and_wait(parcel, LABEL_SYMBOLOGY)
            if door is None:
                report.no_door.append(parcel)
                continue
            await self.clock.sleep(self.pace.handling_s)
            report.collected += door.take()  # whatever the door it opened holds
            door.close_door()
        return report
