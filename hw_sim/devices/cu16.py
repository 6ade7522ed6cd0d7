"""A simulated Kerong CU16-family bus: 1-10 boards of 16 locks and 16 IR sensors each.

Speaks hardware.md §1 through the project's codec (protocols.boards.cu16): status 0x30, unlock
0x31, query-all 0x32, and the less common 0x33 unlock-all, 0x37 unlock time and 0x39 delayed
unlock. A frame with a bad checksum, for an absent board or a board without power gets no
reply, as on a real bus.

Where the published drivers differ (docs/hardware.md §1: the majority is the default, each
point an option):
- unlock (0x31, 0x33, 0x39) gets no reply by default, as most sources read none;
  `reply_to_unlock` makes the board answer with its 9-byte status (0x35) instead;
- the reply to 0x32 carries the command byte 0x36 by default, as the two sources that name
  it say; `query_all_reply` 0x35 for the other;
- 0x32 is answered on the broadcast 0xF0 and, by default, at a board's own address too
  (0x00: board 0), where three drivers send it; `query_all_at_board` off answers only 0xF0.
Our choices where no source says:
- 0x37 answers with a 0x37 frame carrying the hold time now in force (100 ms units), both
  when it sets it and when it is queried with 0;
- query-all: every powered board answers with its status, lowest board id first, one after
  another on the line.
"""

from __future__ import annotations

import argparse
import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hw_sim.devices.board_bus import BoardBus, SimulatedBoard
from hw_sim.devices.compartment import COIL_HOLD_S
from hw_sim.devices.lock_bus import DeviceFamily
from hw_sim.errors import ConfigError
from protocols.boards import cu16
from protocols.boards.cu16 import BoardStatus, Command, Frame, LockPolarity
from protocols.clock import Clock

# hardware.md §1 says only that a board answers within 1 s; published drivers wait ~25 ms
# after an unlock and then query, so a board answers well inside that. An assumption.
REPLY_LATENCY_S = 0.005
TENTHS_PER_S = 10  # 0x37 counts the hold time in 100 ms units
# Indices of a status reply's four data bytes: flipping one leaves STX..ETX intact, so the
# host sees exactly a bad checksum.
_STATUS_PAYLOAD = range(3, 3 + 4)
_UNLOCK_TIME_PAYLOAD = range(3, 4)


@dataclass(frozen=True)
class Cu16Options:
    polarity: LockPolarity = LockPolarity.ONE_IS_LOCKED
    reply_to_unlock: bool = False
    query_all_reply: Command = Command.ALL_STATUS
    query_all_at_board: bool = True

    def __post_init__(self) -> None:
        if self.query_all_reply not in cu16.STATUS_REPLIES:
            raise ConfigError(
                f"a CU16 board answers 0x32 with 0x35 or 0x36, not 0x{self.query_all_reply:02X}"
            )

    reply_latency_s: float = REPLY_LATENCY_S
    coil_hold_s: float = COIL_HOLD_S
    baud: int = cu16.BAUD_RATE


class Cu16Board(SimulatedBoard):
    """One board: 16 compartments, its own faults and its own power."""

    def __init__(self, board_id: int, clock: Clock, options: Cu16Options) -> None:
        super().__init__(cu16.FACTS, board_id, clock, cu16.LOCKS_PER_BOARD)
        self.options = options
        self.hold_s = options.coil_hold_s

    def status(self, at: float) -> BoardStatus:
        return BoardStatus(self.id, *self.sensors(at))

    def set_power(self, on: bool, at: float) -> None:
        if on and not self.powered:
            self.hold_s = self.options.coil_hold_s  # a settings change in RAM is lost
        super().set_power(on, at)


class Cu16Bus(BoardBus[Cu16Board, Frame]):
    """The boards on one RS485 line, as one serial device."""

    facts = cu16.FACTS

    def __init__(
        self,
        clock: Clock,
        board_ids: Iterable[int] = (0,),
        options: Cu16Options | None = None,
        seed: int = 0,
    ) -> None:
        self.options = options or Cu16Options()
        super().__init__(
            board_ids,
            lambda board_id: Cu16Board(board_id, clock, self.options),
            self.options.baud,
            cu16.reassembler(),
            seed,
        )

    def _decode(self, raw: bytes) -> Frame:
        return Frame.from_bytes(raw)

    def _handle(self, frame: Frame, at: float) -> None:
        if frame.cmd == Command.QUERY_ALL and frame.addr == cu16.BROADCAST_ADDR:
            for each in self.boards.values():
                if each.powered:
                    self._reply_status(each, at, self.options.query_all_reply)
            return
        board = self.boards.get(frame.board)
        if board is None or not board.powered:
            return
        if frame.cmd == Command.QUERY_ALL:
            if self.options.query_all_at_board:
                self._reply_status(board, at, self.options.query_all_reply)
            return
        if frame.cmd == Command.QUERY_STATUS:
            self._reply_status(board, at)
        elif frame.cmd == Command.UNLOCK:
            board.compartments[frame.lock - 1].release(at, board.hold_s)
            self._after_unlock(board, at)
        elif frame.cmd == Command.UNLOCK_ALL:
            for compartment in board.compartments:
                compartment.release(at, board.hold_s)
            self._after_unlock(board, at)
        elif frame.cmd == Command.DELAYED_UNLOCK:
            board.compartments[frame.lock - 1].release_later(frame.data[0], at, board.hold_s)
            self._after_unlock(board, at)
        elif frame.cmd == Command.UNLOCK_TIME:
            if frame.data[0]:
                board.hold_s = frame.data[0] / TENTHS_PER_S
            tenths = round(board.hold_s * TENTHS_PER_S)
            reply = Frame(cu16.address(board.id), Command.UNLOCK_TIME, bytes((tenths,)))
            ready = at + self.options.reply_latency_s
            self._reply(board, ready, lambda _t: reply.to_bytes(), _UNLOCK_TIME_PAYLOAD)
        # 0x35 is a board's own reply: another board's answer on the bus, not for us.

    def _after_unlock(self, board: Cu16Board, at: float) -> None:
        if self.options.reply_to_unlock:
            self._reply_status(board, at)

    def _reply_status(self, board: Cu16Board, at: float, cmd: Command = Command.STATUS) -> None:
        polarity = self.options.polarity
        self._reply(
            board,
            at + self.options.reply_latency_s,
            lambda t: board.status(t).to_bytes(polarity, cmd),
            _STATUS_PAYLOAD,
        )


class UnlockReply(enum.StrEnum):
    """What a board answers an unlock with (`lockernet hwsim --unlock-reply`)."""

    NONE = "none"
    STATUS = "status"


_QUERY_ALL_REPLIES = {"0x35": Command.STATUS, "0x36": Command.ALL_STATUS}


def _add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--zero-is-locked", action="store_true", help="invert the lock bit (one vendor model)"
    )
    group.add_argument(
        "--unlock-reply",
        choices=[reply.value for reply in UnlockReply],
        default=UnlockReply.NONE.value,
        help="what an unlock is answered with (default none, as most boards)",
    )
    group.add_argument(
        "--query-all-reply",
        choices=sorted(_QUERY_ALL_REPLIES),
        default="0x36",
        help="the command byte of the reply to 0x32 (default 0x36)",
    )
    group.add_argument(
        "--query-all-broadcast-only",
        action="store_true",
        help="answer 0x32 only on the broadcast 0xF0, not at a board's own address (0x00)",
    )


def _options_from(args: argparse.Namespace) -> Cu16Options:
    return Cu16Options(
        polarity=LockPolarity.ZERO_IS_LOCKED if args.zero_is_locked else LockPolarity.ONE_IS_LOCKED,
        reply_to_unlock=UnlockReply(args.unlock_reply) is UnlockReply.STATUS,
        query_all_reply=_QUERY_ALL_REPLIES[args.query_all_reply],
        query_all_at_board=not args.query_all_broadcast_only,
    )


def _lock_bus_keys(options: Cu16Options, board_ids: list[int]) -> dict[str, Any]:
    polarity = (
        "one_is_locked" if options.polarity is LockPolarity.ONE_IS_LOCKED else "zero_is_locked"
    )
    return {
        "family": cu16.FACTS.family.value,
        "boards": board_ids,
        "polarity": polarity,
        "unlock_reply": options.reply_to_unlock,
    }


DEVICE = DeviceFamily(
    facts=cu16.FACTS,
    options=Cu16Options,
    first_board=0,  # CU16 ids are set on the board from 0 (hardware.md §1)
    make_bus=Cu16Bus,
    add_arguments=_add_arguments,
    options_from=_options_from,
    lock_bus_keys=_lock_bus_keys,
    locks_per_board=lambda _options: cu16.LOCKS_PER_BOARD,
)
