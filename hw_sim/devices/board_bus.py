"""What every simulated lock-board family's device shares, so its own module keeps only its
protocol: a board's compartments, faults and power, and a bus's bookkeeping (its boards, the
line it hears at its baud rate, the reassembler that cuts frames out of it, the replies it
schedules with their faults).

A family's bus subclasses `BoardBus` and says how a frame is decoded (`_decode`) and answered
(`_handle`); its board subclasses `SimulatedBoard` and adds what the family reads off it.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from hw_sim.devices.compartment import Compartment
from hw_sim.devices.faults import LineFaults
from hw_sim.devices.reply_schedule import ReplySchedule, RxLine
from hw_sim.errors import ConfigError
from protocols.clock import Clock
from protocols.errors import FrameError
from protocols.reassembly import FrameReassembler, ReassemblyStats


class SimulatedBoard:
    """One board: `locks` compartments (1-based), its own line faults and its own power."""

    def __init__(self, board_id: int, clock: Clock, locks: int) -> None:
        self.id = board_id
        self.compartments = [Compartment(clock, board_id, lock) for lock in range(1, locks + 1)]
        self.faults = LineFaults()
        self.powered = True

    def sensors(self, at: float) -> tuple[tuple[bool, ...], tuple[bool, ...]]:
        """Per lock at `at` (index 0 = lock 1): locked?, and per compartment: occupied?"""
        return (
            tuple(c.locked(at) for c in self.compartments),
            tuple(c.occupied(at) for c in self.compartments),
        )

    def set_power(self, on: bool, at: float) -> None:
        """Cut or restore the board's power; a cut drops every coil that was holding."""
        if not on:
            for compartment in self.compartments:
                compartment.cut_power(at)
        self.powered = on


BoardT = TypeVar("BoardT", bound=SimulatedBoard)
FrameT = TypeVar("FrameT")


class BoardBus(ABC, Generic[BoardT, FrameT]):
    """The boards on one RS485 line, as one serial device (reply_schedule.SerialDevice).

    `name` is how errors name the family ("CU16"); `lock_noun` what it calls one output.
    """

    name: str
    lock_noun: str = "lock"

    def __init__(
        self, boards: Iterable[BoardT], baud: int, reassembler: FrameReassembler, seed: int
    ) -> None:
        self.boards: dict[int, BoardT] = {board.id: board for board in boards}
        self.replies = ReplySchedule()
        self._baud = baud
        self._rx = RxLine(baud)
        self._reassembler = reassembler
        self._rng = random.Random(seed)  # noqa: S311 - seeded for replay, not secrecy

    @property
    def baud(self) -> int:
        return self._baud

    @property
    def rx_stats(self) -> ReassemblyStats:
        """What the bus heard: whole frames, bad frames and bytes thrown away."""
        return self._reassembler.stats

    def compartment(self, board: int, slot: int) -> Compartment:
        """A board's compartment by 1-based lock; ConfigError if there is none."""
        if board not in self.boards:
            raise ConfigError(f"there is no {self.name} board {board} on this bus")
        compartments = self.boards[board].compartments
        if not 1 <= slot <= len(compartments):
            raise ConfigError(
                f"{self.name} {self.lock_noun}s are 1-{len(compartments)}, not {slot}"
            )
        return compartments[slot - 1]

    def receive(self, data: bytes, seen_at: float) -> None:
        """Bytes off the line, the first seen at `seen_at` (seconds, the bus's clock)."""
        # One byte at a time, so each frame is acted on when its own last byte arrived.
        for byte, end in zip(data, self._rx.byte_end_times(len(data), seen_at), strict=True):
            for raw in self._reassembler.feed(bytes((byte,))):
                try:
                    frame = self._decode(raw)
                except FrameError:
                    continue  # another board's answer on the line, or nothing we know
                self._handle(frame, end)

    @abstractmethod
    def _decode(self, raw: bytes) -> FrameT:
        """One whole, checked frame as the family's codec reads it; FrameError if it can't."""

    @abstractmethod
    def _handle(self, frame: FrameT, at: float) -> None:
        """Act on one frame whose last byte arrived at `at`."""

    def _reply(
        self, board: BoardT, ready: float, make: Callable[[float], bytes], payload: range
    ) -> None:
        """Schedule `make(t)`'s bytes from `board` at `ready` (plus its slow-reply fault);
        the board's line faults may mangle the `payload` bytes, and a board whose power is
        off by then says nothing."""
        ready += board.faults.slow_reply_s

        def produce(when: float) -> bytes:
            if not board.powered:
                return b""
            return board.faults.mangle(make(when), self._rng, payload)

        self.replies.push(ready, produce)


def checked_board_ids(ids: Iterable[int], name: str, max_boards: int) -> list[int]:
    """`ids` sorted, once each; ConfigError unless there are 1 to `max_boards` of them."""
    unique = sorted(set(ids))
    if not 1 <= len(unique) <= max_boards:
        raise ConfigError(f"one {name} bus has 1-{max_boards} boards, not {len(unique)}")
    return unique
