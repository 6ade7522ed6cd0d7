"""A simulated Kerong CU48 bus: 1-10 boards of 48 locks and 48 IR sensors each.

Speaks hardware.md §6 through the project's codec (protocols.boards.cu48): a status
query 0x60 is answered with the 18-byte 0x75 status (02 BOARD 00 75, 12 data bytes, 03 SUM,
as captured from a real board), an unlock 0x61 releases the lock and is answered
02 BOARD LOCK 75 00 SUM (one driver's parser reads that answer; no capture shows one). A
frame with a bad checksum, for an absent board or a board without power gets no answer, as
on a real bus.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hw_sim.devices.board_bus import BoardBus, SimulatedBoard
from hw_sim.devices.compartment import COIL_HOLD_S
from hw_sim.devices.lock_bus import DeviceFamily
from protocols.boards import cu48
from protocols.clock import Clock

# The kit's documentation says only "less than 1 second"; far inside the driver's timeout.
REPLY_LATENCY_S = 0.005
_STATUS_PAYLOAD = range(cu48.STATUS_DATA.start, cu48.STATUS_DATA.stop)
_ACK_PAYLOAD = range(2, 3)


@dataclass(frozen=True)
class Cu48Options:
    reply_latency_s: float = REPLY_LATENCY_S
    coil_hold_s: float = COIL_HOLD_S
    baud: int = cu48.BAUD_RATE


class Cu48Board(SimulatedBoard):
    """One board: 48 compartments, its own faults and its own power."""

    def __init__(self, board_id: int, clock: Clock, options: Cu48Options) -> None:
        super().__init__(cu48.FACTS, board_id, clock, cu48.LOCKS_PER_BOARD)

    def status(self, at: float) -> cu48.BoardStatus:
        return cu48.BoardStatus(self.id, *self.sensors(at))


class Cu48Bus(BoardBus[Cu48Board, cu48.Request]):
    """The boards on one RS485 line, as one serial device."""

    facts = cu48.FACTS

    def __init__(
        self,
        clock: Clock,
        board_ids: Iterable[int] = (0,),
        options: Cu48Options | None = None,
        seed: int = 0,
    ) -> None:
        self.options = options or Cu48Options()
        super().__init__(
            board_ids,
            lambda board_id: Cu48Board(board_id, clock, self.options),
            self.options.baud,
            cu48.reassembler(),
            seed,
        )

    def _decode(self, raw: bytes) -> cu48.Request:
        return cu48.Request.from_bytes(raw)  # a board's answer on the line raises FrameError

    def _handle(self, request: cu48.Request, at: float) -> None:
        board = self.boards.get(request.board)
        if board is None or not board.powered:
            return
        ready = at + self.options.reply_latency_s
        if request.cmd == cu48.Command.QUERY_STATUS:
            self._reply(board, ready, lambda t: board.status(t).to_bytes(), _STATUS_PAYLOAD)
        else:
            board.compartments[request.lock - 1].release(at, self.options.coil_hold_s)
            ack = cu48.UnlockAck(board.id, request.lock).to_bytes()
            self._reply(board, ready, lambda _t: ack, _ACK_PAYLOAD)


def _add_arguments(_group: argparse._ArgumentGroup) -> None:
    """The CU48 has no option of its own on the command line yet."""


def _lock_bus_keys(_options: Cu48Options, board_ids: list[int]) -> dict[str, Any]:
    return {"family": cu48.FACTS.family.value, "boards": board_ids}


DEVICE = DeviceFamily(
    facts=cu48.FACTS,
    options=Cu48Options,
    first_board=0,  # ids 0-9 set on the board (hardware.md §6)
    make_bus=Cu48Bus,
    add_arguments=_add_arguments,
    options_from=lambda _args: Cu48Options(),
    lock_bus_keys=_lock_bus_keys,
    locks_per_board=lambda _options: cu48.LOCKS_PER_BOARD,
)
