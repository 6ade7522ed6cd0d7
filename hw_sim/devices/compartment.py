"""The physical model of one compartment: its lock, its door and what is inside.

hardware.md §1: the lock coil is held ~500 ms (electromagnetic) or ~1000 ms (servo), then the
latch is back. A released door springs open and stays open until a person closes it; a
closed door on a latched lock stays shut. The IR sensor sees whether anything is inside.

Every method takes the time it happens at (clock.monotonic() seconds) and defaults to the
compartment's clock, so a device can act at the exact time a frame arrived while people act
"now". Timed changes (the coil dropping, a delayed unlock firing) are applied lazily when the
compartment is next looked at, so a simulated day costs nothing while nobody looks.
"""

from __future__ import annotations

from dataclasses import dataclass

from hw_sim.errors import PhysicalError
from protocols.clock import Clock

# hardware.md §1: coil hold of an electromagnetic lock; servo locks hold ~1.0 s.
COIL_HOLD_S = 0.5
SERVO_COIL_HOLD_S = 1.0


@dataclass(frozen=True)
class CompartmentView:
    """What the compartment looks like at one moment (for status and people)."""

    board: int
    slot: int
    locked: bool
    door_open: bool
    occupied: bool
    contents: tuple[str, ...]
    openings: int


class Compartment:
    """One lock, one door, one IR sensor, and the parcels behind the door."""

    def __init__(self, clock: Clock, board: int, slot: int) -> None:
        self.clock = clock
        self.board = board
        self.slot = slot
        self._door_open = False
        self._coil_until = float("-inf")
        self._pending_release: tuple[float, float] | None = None  # (at, hold) of 0x39
        self._contents: list[str] = []
        # How often the door has swung open: people watch this to "see" a door open.
        self.openings = 0
        self.forced_openings = 0
        # Faults (hw_sim.devices.faults switches these).
        self.lock_stuck = False
        self.door_jammed = False
        self.door_left_open = False
        self.ir_stuck: bool | None = None

    def _at(self, at: float | None) -> float:
        return self.clock.monotonic() if at is None else at

    def _settle(self, at: float) -> None:
        if self._pending_release is not None and self._pending_release[0] <= at:
            when, hold = self._pending_release
            self._pending_release = None
            self._release(when, hold)

    def _release(self, at: float, hold_s: float) -> None:
        if self.lock_stuck:
            return  # the coil clicks, the latch does not move
        self._coil_until = max(self._coil_until, at + hold_s)
        if not self._door_open and not self.door_jammed:
            self._swing_open()

    def _swing_open(self) -> None:
        self._door_open = True
        self.openings += 1

    def _coil_active(self, at: float) -> bool:
        return at < self._coil_until

    # What the board does.

    def release(self, at: float | None = None, hold_s: float = COIL_HOLD_S) -> None:
        """Energise the coil for `hold_s`: the latch lets go and the door springs open."""
        at = self._at(at)
        self._settle(at)
        self._release(at, hold_s)

    def release_later(
        self, delay_s: float, at: float | None = None, hold_s: float = COIL_HOLD_S
    ) -> None:
        """Release after `delay_s` (CU16 0x39 delayed unlock)."""
        at = self._at(at)
        self._settle(at)
        self._pending_release = (at + delay_s, hold_s)

    def cut_power(self, at: float | None = None) -> None:
        """The board lost power: the coil drops at once and a pending unlock is forgotten."""
        at = self._at(at)
        self._settle(at)
        self._coil_until = min(self._coil_until, at)
        self._pending_release = None

    # What the sensors report.

    def locked(self, at: float | None = None) -> bool:
        """The lock sensor: latched on a closed door."""
        at = self._at(at)
        self._settle(at)
        return not self._door_open and not self._coil_active(at)

    def door_open(self, at: float | None = None) -> bool:
        at = self._at(at)
        self._settle(at)
        return self._door_open

    def occupied(self, at: float | None = None) -> bool:
        """The IR sensor: something is inside (or the sensor is stuck)."""
        if self.ir_stuck is not None:
            return self.ir_stuck
        return bool(self._contents)

    @property
    def contents(self) -> tuple[str, ...]:
        return tuple(self._contents)

    def view(self, at: float | None = None) -> CompartmentView:
        at = self._at(at)
        return CompartmentView(
            self.board,
            self.slot,
            self.locked(at),
            self.door_open(at),
            self.occupied(at),
            self.contents,
            self.openings,
        )

    # What people do.

    def open_door(self, at: float | None = None) -> None:
        """A person pulls the door open: only possible while the latch is released."""
        at = self._at(at)
        self._settle(at)
        if self._door_open:
            return
        if self.door_jammed:
            raise PhysicalError(f"door {self.board}/{self.slot} is jammed shut")
        if not self._coil_active(at):
            raise PhysicalError(f"door {self.board}/{self.slot} is latched; it needs an unlock")
        self._swing_open()

    def close_door(self, at: float | None = None) -> bool:
        """A person pushes the door shut; returns whether it stayed shut."""
        at = self._at(at)
        self._settle(at)
        if self.door_left_open:
            return False  # something keeps it ajar: the push does not latch it
        self._door_open = False
        return True

    def force_open(self, at: float | None = None) -> None:
        """Pried open without an unlock (a vandal, or a broken latch)."""
        at = self._at(at)
        self._settle(at)
        if not self._door_open:
            self._swing_open()
            self.forced_openings += 1

    def place(self, parcel: str, at: float | None = None) -> None:
        if not self.door_open(at):
            raise PhysicalError(f"door {self.board}/{self.slot} is closed; nothing can go in")
        self._contents.append(parcel)

    def take(self, parcel: str | None = None, at: float | None = None) -> list[str]:
        """Take one parcel, or everything when `parcel` is None."""
        if not self.door_open(at):
            raise PhysicalError(f"door {self.board}/{self.slot} is closed; nothing can come out")
        if parcel is None:
            taken, self._contents = self._contents, []
            return taken
        if parcel not in self._contents:
            raise PhysicalError(f"parcel {parcel} is not in {self.board}/{self.slot}")
        self._contents.remove(parcel)
        return [parcel]
