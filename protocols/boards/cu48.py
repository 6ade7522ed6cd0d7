"""Kerong KR-CU48 lock control board (48 locks, 48 IR sensors): frames, commands, replies.

hardware.md §6 gives the sources and where they disagree. Every frame starts STX 0x02
and ends with SUM, the low byte of the sum of every byte before it.

  host -> board   02 BOARD LOCK CMD 03 SUM        6 bytes; CMD 0x60 status, 0x61 unlock;
                                                   LOCK 0-based (0x00 in a status query)
  board -> host   status: 02 BOARD 00 75 D0..D11 03 SUM, 18 bytes (a published capture):
                  D0-D5 the lock bits, D6-D11 the IR bits; data byte k bit b (LSB first)
                  is lock/sensor 8k+b+1; a lock bit 1 = locked (closed)
                  unlock answer: 02 BOARD LOCK 75 00 SUM, 6 bytes (one driver's parser
                  only; no capture shows it)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from protocols.boards import kerong
from protocols.boards.bits import pack_bits, unpack_bits
from protocols.boards.family import BoardFamily, FamilyFacts
from protocols.boards.kerong import ETX, STX, checksum
from protocols.errors import FrameError
from protocols.reassembly import FrameReassembler

BAUD_RATE = 19200  # hardware.md §6: the one open driver opens the port at 19200 8N1
LOCKS_PER_BOARD = 48
MAX_BOARD = 9  # ids 0-9 are set on the board; up to 10 boards on one line
MAX_BOARDS_ON_BUS = 10
HOST_FRAME_LENGTH = 6
ACK_FRAME_LENGTH = 6
GROUP_BYTES = LOCKS_PER_BOARD // 8  # 6: one bit per lock, then one per sensor
STATUS_DATA_LENGTH = 2 * GROUP_BYTES  # 12
STATUS_DATA = slice(4, 4 + STATUS_DATA_LENGTH)  # where a status frame carries them
STATUS_FRAME_LENGTH = 4 + STATUS_DATA_LENGTH + 2  # 18: STX BOARD 00 75, data, ETX SUM
MAX_FRAME_LENGTH = STATUS_FRAME_LENGTH


class Command(enum.IntEnum):
    """The CMD byte of a host frame, and the board's answer byte."""

    QUERY_STATUS = 0x60
    UNLOCK = 0x61
    SUCCESS = 0x75  # the board's answer to either


def _check_board(board: int) -> None:
    if not 0 <= board <= MAX_BOARD:
        raise ValueError(f"CU48 board id {board} is outside 0-{MAX_BOARD}")


def _check_lock(lock: int) -> None:
    if not 1 <= lock <= LOCKS_PER_BOARD:
        raise ValueError(f"CU48 lock {lock} is outside 1-{LOCKS_PER_BOARD}")


@dataclass(frozen=True)
class Request:
    """A host frame: 0x60 status query (lock 1, sent as 0x00) or 0x61 unlock of a 1-based lock."""

    board: int
    cmd: int
    lock: int = 1

    def to_bytes(self) -> bytes:
        _check_board(self.board)
        _check_lock(self.lock)
        if self.cmd not in (Command.QUERY_STATUS, Command.UNLOCK):
            raise ValueError(f"CMD 0x{self.cmd:02X} is not a CU48 host command")
        return kerong.sealed(bytes((STX, self.board, self.lock - 1, self.cmd, ETX)))

    @classmethod
    def from_bytes(cls, raw: bytes) -> Request:
        """Decode a host frame (the board's side); FrameError carrying the bytes otherwise."""
        raw = bytes(raw)
        _checked(raw)
        if len(raw) != HOST_FRAME_LENGTH or raw[4] != ETX:
            raise FrameError("a CU48 host frame is 6 bytes with ETX 0x03 before its sum", raw)
        if raw[3] not in (Command.QUERY_STATUS, Command.UNLOCK):
            raise FrameError(f"unknown CU48 command 0x{raw[3]:02X}", raw)
        if raw[1] > MAX_BOARD or raw[2] >= LOCKS_PER_BOARD:
            raise FrameError(f"CU48 board {raw[1]} lock index {raw[2]} out of range", raw)
        return cls(raw[1], raw[3], raw[2] + 1)


def query_status(board: int) -> Request:
    """0x60: ask one board for its 48 lock bits and 48 IR bits."""
    return Request(board, Command.QUERY_STATUS)


def unlock(board: int, lock: int) -> Request:
    """0x61: release one lock (1-based)."""
    return Request(board, Command.UNLOCK, lock)


def _checked(raw: bytes) -> None:
    kerong.check_start(raw, "CU48", HOST_FRAME_LENGTH)
    kerong.check_sum(raw, "CU48")


@dataclass(frozen=True)
class UnlockAck:
    """02 BOARD LOCK 75 00 SUM: the board took the unlock of `lock` (1-based).

    Only pirumu/node-pc's parser (and its commented-out test) gives this answer; no capture
    shows a CU48 answering an unlock (hardware.md §6). The driver does not wait for it.
    """

    board: int
    lock: int

    def to_bytes(self) -> bytes:
        _check_board(self.board)
        _check_lock(self.lock)
        return kerong.sealed(bytes((STX, self.board, self.lock - 1, Command.SUCCESS, 0)))


@dataclass(frozen=True)
class BoardStatus:
    """A decoded 18-byte status answer. Index 0 of each tuple is lock or sensor 1."""

    board: int
    locked: tuple[bool, ...]
    occupied: tuple[bool, ...]

    def __post_init__(self) -> None:
        if len(self.locked) != LOCKS_PER_BOARD or len(self.occupied) != LOCKS_PER_BOARD:
            raise ValueError(f"a CU48 status has {LOCKS_PER_BOARD} locks and sensors")

    def to_bytes(self) -> bytes:
        _check_board(self.board)
        return kerong.sealed(
            bytes((STX, self.board, 0, Command.SUCCESS))
            + pack_bits(self.locked)
            + pack_bits(self.occupied)
            + bytes((ETX,))
        )


BoardFrame = UnlockAck | BoardStatus


def decode_board_frame(raw: bytes) -> BoardFrame:
    """Decode a board's answer (the host's side): an 18-byte status or a 6-byte unlock answer.

    Raises FrameError carrying the bytes for anything else (a bad sum, no STX, not 0x75, a
    length of neither, a status without ETX or naming a lock, a board id outside 0-9)."""
    raw = bytes(raw)
    _checked(raw)
    if raw[3] != Command.SUCCESS:
        raise FrameError(f"CU48 answer byte 0x{raw[3]:02X} is not success 0x75", raw)
    if raw[1] > MAX_BOARD:
        raise FrameError(f"CU48 board id {raw[1]} is outside 0-{MAX_BOARD}", raw)
    if len(raw) == ACK_FRAME_LENGTH:
        if raw[4] != 0 or raw[2] >= LOCKS_PER_BOARD:
            raise FrameError("a CU48 unlock answer is 02 BOARD LOCK(0-47) 75 00 SUM", raw)
        return UnlockAck(raw[1], raw[2] + 1)
    if len(raw) != STATUS_FRAME_LENGTH:
        raise FrameError(f"a CU48 answer is 6 or 18 bytes, not {len(raw)}", raw)
    if raw[2] != 0 or raw[-2] != ETX:
        raise FrameError("a CU48 status is 02 BOARD 00 75, 12 data bytes, ETX 0x03, SUM", raw)
    data = raw[STATUS_DATA]
    return BoardStatus(raw[1], unpack_bits(data[:GROUP_BYTES]), unpack_bits(data[GROUP_BYTES:]))


def _is_status(frame: bytes) -> bool:
    return len(frame) == STATUS_FRAME_LENGTH and frame[2] == 0 and kerong.ends_well(frame)


def _is_ack(frame: bytes) -> bool:
    return (
        len(frame) >= ACK_FRAME_LENGTH
        and frame[4] == 0
        and checksum(frame[: ACK_FRAME_LENGTH - 1]) == frame[ACK_FRAME_LENGTH - 1]
    )


def _measure(buffer: bytes) -> int | None:
    if len(buffer) < 5:
        return None
    if buffer[3] in (Command.QUERY_STATUS, Command.UNLOCK):
        return HOST_FRAME_LENGTH if buffer[4] == ETX else 0
    if buffer[3] != Command.SUCCESS:
        return 0
    if buffer[2] != 0:  # only an unlock answer names a lock
        return ACK_FRAME_LENGTH if buffer[4] == 0 else 0
    if buffer[4] != 0:  # a status whose locks 1-8 are not all open
        return STATUS_FRAME_LENGTH
    # 02 BOARD 00 75 00: lock 1's unlock answer, or a status with locks 1-8 open. A whole
    # status (ETX and sum at its end) decides; else the unlock answer's sum; else wait.
    if len(buffer) < ACK_FRAME_LENGTH:
        return None
    if not _is_ack(buffer):
        return STATUS_FRAME_LENGTH
    if len(buffer) < STATUS_FRAME_LENGTH:
        return None  # an unlock answer nothing follows stays pending: nobody waits for it
    return STATUS_FRAME_LENGTH if _is_status(buffer[:STATUS_FRAME_LENGTH]) else ACK_FRAME_LENGTH


def _check(frame: bytes) -> bool:
    if len(frame) == STATUS_FRAME_LENGTH:
        return _is_status(frame)
    return checksum(frame[:-1]) == frame[-1]


def reassembler() -> FrameReassembler:
    """A stream reassembler for CU48 frames in either direction."""
    return kerong.reassembler(_measure, _check, MAX_FRAME_LENGTH)


FACTS = FamilyFacts(
    family=BoardFamily.CU48,
    title="Kerong CU48",
    baud_rate=BAUD_RATE,
    board_ids=range(0, MAX_BOARD + 1),
    locks_per_board=LOCKS_PER_BOARD,
    max_boards=MAX_BOARDS_ON_BUS,
    lock_noun="lock",
    source="hardware.md §6",
)
