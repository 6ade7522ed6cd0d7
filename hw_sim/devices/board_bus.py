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
from typing import ClassVar, Generic, TypeVar

from hw_sim.devices.compartment import Compartment
from hw_sim.devices.faults import LineFaults
from hw_sim.devices.reply_schedule import ReplySchedule, RxLine
from hw_sim.errors import ConfigError
from protocols.boards import FamilyFacts
from protocols.clock import Clock
from protocols.errors import FrameError
from protocols.reassembly import FrameReassembler, ReassemblyStats


class SimulatedBoard:
    """One board of a family (`facts`): `locks` compartments (1-based), its own line faults
    and its own power. ConfigError if `board_id` is not one the family's boards take."""

    def __init__(self, facts: FamilyFacts, board_id: int, clock: Clock, locks: int) -> None:
        ids = facts.board_ids
        if board_id not in ids:
            raise ConfigError(
                f"a {facts.family} board id is {ids.start}-{ids.stop - 1}, not {board_id}"
            )
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

    `make_board(id)` builds each of `board_ids` (1 to the family's `max_boards` of them, else
    ConfigError); the bus hears the line at `baud` and cuts frames with `reassembler`.
    """

    facts: ClassVar[FamilyFacts]

    def __init__(
        self,
        board_ids: Iterable[int],
        make_board: Callable[[int], BoardT],
        baud: int,
        reassembler: FrameReassembler,
        seed: int,
    ) -> None:
        ids = sorted(set(board_ids))
        family, most = self.facts.family, self.facts.max_boards
        if not 1 <= len(ids) <= most:
            raise ConfigError(f"a {family} bus has 1-{most} boards, not {len(ids)}")
        self.boards: dict[int, BoardT] = {board_id: make_board(board_id) for board_id in ids}
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
            raise ConfigError(f"there is no {self.facts.family} board {board} on this bus")
        compartments = self.boards[board].compartments
        if not 1 <= slot <= len(compartments):
            noun = self.facts.lock_noun
            raise ConfigError(f"a {self.facts.family} {noun} is 1-{len(compartments)}, not {slot}")
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
