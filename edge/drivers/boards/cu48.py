"""The Kerong CU48 family's dialect (hardware.md §6; codec protocols/boards/cu48.py).

A board is asked with 0x60 and answers 0x75 with 48 lock bits and 48 IR bits (18 bytes).
Whether and how a board answers an unlock (0x61) the sources do not settle (one driver's
parser reads 02 BOARD LOCK 75 00 SUM, no capture shows an answer, the newest version of that
driver queries the status after an unlock instead of reading one): the driver sends the
unlock, waits for no answer, and reads the board ~25 ms later as for the CU16. An answer
that does come is dropped as stale before the next request (Bus.transact), or is not a
status and so never taken for one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edge.drivers.boards.base import BoardReading, Dialect, decoded
from protocols.boards import cu48
from protocols.reassembly import FrameReassembler

if TYPE_CHECKING:
    from edge.drivers.lockboard import Bus


class Cu48Dialect(Dialect):
    facts = cu48.FACTS
    reads = frozenset(("boards",))
    confirm_delay_s = 0.025  # the coil's ~25 ms, as for the CU16; no CU48 source gives one

    def reassembler(self) -> FrameReassembler:
        return cu48.reassembler()

    async def read(self, bus: Bus, board: int) -> BoardReading:
        raw = await bus.transact(
            self.status_query(board, lambda: cu48.query_status(board).to_bytes()),
            lambda f: len(f) == cu48.STATUS_FRAME_LENGTH and f[1] == board,
            reveals_echo=True,
        )
        return self.remembered(board, raw, lambda raw: self._decode(board, raw))

    def _decode(self, board: int, raw: bytes) -> BoardReading:
        status = decoded(raw, cu48.decode_board_frame, cu48.BoardStatus, board, "a status query")
        return BoardReading.of_locks(board, status.locked, status.occupied)

    async def unlock(self, bus: Bus, board: int, lock: int) -> bool | None:
        # Not waited for: on a board that stays silent every unlock would cost a reply
        # timeout and end unconfirmed (a NoReply leaves the door to its sensors).
        await bus.transact(cu48.unlock(board, lock).to_bytes(), None)
        return None  # sent, not yet known released: a reading tells
