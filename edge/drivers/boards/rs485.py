"""The generic RS485 "0x8A/0x80" family's dialect (hardware.md §2; protocols/boards/rs485.py).

A board is asked with query-all (80 BB 00 33 X) and answers with its channels' door feedback;
an unlock (8A BB CC 11 X) is answered ~500 ms later with that channel's feedback, which says
whether the door sprang open. Which level means "open" is set per board (`open_level`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edge.drivers.boards.base import BoardReading, Dialect, decoded
from protocols.boards import rs485
from protocols.reassembly import FrameReassembler

if TYPE_CHECKING:
    from edge.config import LockBusConfig, Rs485Board
    from edge.drivers.lockboard import Bus


class Rs485Dialect(Dialect):
    facts = rs485.FACTS
    reads = frozenset(("rs485_boards",))

    def __init__(self, config: LockBusConfig) -> None:
        super().__init__(config)
        self._boards: dict[int, Rs485Board] = {b.address: b for b in config.rs485_boards}
        self._replies = rs485.ReplyReassembler(max(self._status_bytes(b) for b in self._boards))

    @classmethod
    def layout_of(cls, config: LockBusConfig) -> dict[int, int]:
        if not config.rs485_boards:
            raise ValueError("an rs485-8a bus needs rs485_boards")
        return {b.address: b.channels for b in config.rs485_boards}

    def _status_bytes(self, board: int) -> int:
        spec = self._boards[board]
        return spec.status_bytes or rs485.status_byte_count(spec.channels)

    def reassembler(self) -> FrameReassembler:
        # One reassembler for the bus's life: read() tells it the length of the next reply.
        return self._replies

    async def read(self, bus: Bus, board: int) -> BoardReading:
        spec = self._boards[board]
        # A query-all reply's length is the board model's, not in the stream (protocols.rs485).
        self._replies.status_bytes = self._status_bytes(board)
        self._replies.expect_all_status = True
        try:
            raw = await bus.transact(
                rs485.QueryAll(board).to_bytes(),
                lambda f: f[0] == rs485.QUERY_HEAD and f[1] == board and f[-2] == rs485.QUERY_OP,
                reveals_echo=True,
            )
        finally:
            self._replies.expect_all_status = False
        frame = decoded(raw, rs485.decode_board_frame, rs485.AllStatus, board, "a query-all")
        high_is_open = spec.open_level == "high"
        bits = frame.channels[: spec.channels]
        return BoardReading(
            board, tuple(bit == high_is_open for bit in bits), (None,) * spec.channels
        )

    async def unlock(self, bus: Bus, board: int, lock: int) -> bool | None:
        raw = await bus.transact(
            rs485.Unlock(board, lock).to_bytes(),
            lambda f: f[0] == rs485.UNLOCK_HEAD and f[1] == board and f[2] == lock,
        )
        assert raw is not None
        feedback = raw[3]
        return (feedback == rs485.Feedback.HIGH) == (self._boards[board].open_level == "high")
