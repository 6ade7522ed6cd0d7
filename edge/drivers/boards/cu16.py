"""The Kerong CU16 family's dialect (hardware.md §1; codec protocols/boards/cu16.py).

A board is asked for its status with 0x30 and answers 0x35 with 16 lock bits and 16 IR bits;
a status under 0x36 (how some boards answer 0x32) is read the same way. An unlock (0x31) gets
no answer on most boards, so the driver waits ~25 ms for the coil and reads the board
(hardware.md §1); `unlock_reply` waits for the status some boards send back.

An unlock is sent once per attempt, whether or not an answer comes: some published drivers
re-send it when the board stays silent, and on the many boards that never answer an unlock
every copy releases the lock again, springing open a door a person may have shut in
between. The driver tries again only on evidence that the lock did not release (a reading
within the coil's hold that still shows it locked); an answer that never came is left to
the door's sensors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edge.drivers.boards.base import BoardReading, Dialect
from protocols.boards import cu16
from protocols.reassembly import FrameReassembler

if TYPE_CHECKING:
    from edge.drivers.lockboard import Bus


class Cu16Dialect(Dialect):
    facts = cu16.FACTS
    reads = frozenset(("boards", "polarity", "unlock_reply"))
    # Most CU16 boards do not answer an unlock: drivers wait ~25 ms and query (hardware.md §1).
    confirm_delay_s = 0.025

    def reassembler(self) -> FrameReassembler:
        return cu16.reassembler()

    async def read(self, bus: Bus, board: int) -> BoardReading:
        addr = cu16.address(board)
        raw = await bus.transact(
            self.status_query(board, lambda: cu16.query_status(board).to_bytes()),
            lambda f: f[2] in cu16.STATUS_REPLIES and f[1] == addr,
            reveals_echo=True,
        )
        return self.remembered(board, raw, lambda raw: self._decode(board, raw))

    def _decode(self, board: int, raw: bytes) -> BoardReading:
        status = cu16.BoardStatus.from_bytes(raw, self.config.lock_polarity)
        return BoardReading.of_locks(board, status.locked, status.occupied)

    async def unlock(self, bus: Bus, board: int, lock: int) -> bool | None:
        addr = cu16.address(board)
        # A board that answers an unlock unasked does no harm: its status frame is dropped
        # as stale before the next request (Bus.transact) or, slower than the confirm delay,
        # read as the board's status after the unlock, which it is.
        reply_match = (
            (lambda f: f[2] in cu16.STATUS_REPLIES and f[1] == addr)
            if self.config.unlock_reply
            else None
        )
        await bus.transact(cu16.unlock(board, lock).to_bytes(), reply_match)
        return None  # the status it may send is from before the coil moved: read again
