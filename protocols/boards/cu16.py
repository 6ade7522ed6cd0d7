"""Kerong CU16-family lock control board: frames, commands and status replies.

hardware.md §1. Frame: STX ADDR CMD [DATA] ETX SUM, SUM = low byte of the sum of every byte
before it. ADDR = (board << 4) | lock_index, lock_index 0-based; a board-wide command uses
lock_index 0 and the query of all boards uses the broadcast ADDR 0xF0.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from protocols.boards import kerong
from protocols.boards.bits import pack_bits, unpack_bits
from protocols.boards.family import BoardFamily, FamilyFacts
from protocols.boards.kerong import ETX, STX
from protocols.errors import FrameError
from protocols.reassembly import FrameReassembler

BROADCAST_ADDR = 0xF0
BAUD_RATE = 19200  # hardware.md §1: 19200 baud, 8N1
LOCKS_PER_BOARD = 16
MAX_BOARD = 15  # the board id is four bits of ADDR
MAX_BOARDS_ON_BUS = 10  # hardware.md §1: up to 10 chained boards
STATUS_FRAME_LENGTH = 9
MAX_FRAME_LENGTH = STATUS_FRAME_LENGTH


class Command(enum.IntEnum):
    """The CMD byte. 0x33, 0x37 and 0x39 are confirmed by one source only (hardware.md)."""

    QUERY_STATUS = 0x30
    UNLOCK = 0x31
    QUERY_ALL = 0x32
    UNLOCK_ALL = 0x33
    STATUS = 0x35  # the board's status reply
    # The reply to QUERY_ALL as two of the published drivers name it, one of them a capture;
    # our first summary gave 0x35 (docs/hardware.md §1). The same four data bytes.
    ALL_STATUS = 0x36
    UNLOCK_TIME = 0x37  # one data byte: hold time in 100 ms units; 0 queries the setting
    DELAYED_UNLOCK = 0x39  # one data byte: delay in seconds before the lock releases


# Bytes of DATA each CMD carries; the frame is STX ADDR CMD + data + ETX SUM.
_DATA_LENGTH: dict[int, int] = {
    Command.QUERY_STATUS: 0,
    Command.UNLOCK: 0,
    Command.QUERY_ALL: 0,
    Command.UNLOCK_ALL: 0,
    Command.STATUS: 4,
    Command.ALL_STATUS: 4,
    Command.UNLOCK_TIME: 1,
    Command.DELAYED_UNLOCK: 1,
}


# A board's status comes back under either command byte: read both alike.
STATUS_REPLIES = frozenset((Command.STATUS, Command.ALL_STATUS))


class LockPolarity(enum.Enum):
    """What a set lock bit means. Most drivers read 1 as locked; one vendor model inverts it."""

    ONE_IS_LOCKED = 1
    ZERO_IS_LOCKED = 0


def frame_length(cmd: int) -> int | None:
    """The whole frame's length for a CMD byte, or None for a CMD this family does not use."""
    data = _DATA_LENGTH.get(cmd)
    return None if data is None else 5 + data


def address(board: int, lock: int = 1) -> int:
    """ADDR for a 1-based lock on a board (lock 1 is index 0)."""
    if not 0 <= board <= MAX_BOARD:
        raise ValueError(f"board id {board} is outside 0-{MAX_BOARD}")
    if not 1 <= lock <= LOCKS_PER_BOARD:
        raise ValueError(f"lock {lock} is outside 1-{LOCKS_PER_BOARD}")
    return (board << 4) | (lock - 1)


@dataclass(frozen=True)
class Frame:
    """One CU16 frame in either direction."""

    addr: int
    cmd: int
    data: bytes = b""

    @property
    def board(self) -> int:
        return self.addr >> 4

    @property
    def lock(self) -> int:
        """The 1-based lock the ADDR names."""
        return (self.addr & 0x0F) + 1

    def to_bytes(self) -> bytes:
        expected = frame_length(self.cmd)
        if expected is None or expected != 5 + len(self.data):
            raise ValueError(f"CMD 0x{self.cmd:02X} does not carry {len(self.data)} data bytes")
        if not 0 <= self.addr <= 0xFF:
            raise ValueError(f"ADDR {self.addr} is not a byte")
        return kerong.sealed(bytes((STX, self.addr, self.cmd, *self.data, ETX)))

    @classmethod
    def from_bytes(cls, raw: bytes) -> Frame:
        """Decode one whole frame; any fault raises FrameError carrying the bytes."""
        raw = bytes(raw)
        kerong.check_start(raw, "CU16", 5)
        expected = frame_length(raw[2])
        if expected is None:
            raise FrameError(f"unknown CU16 command 0x{raw[2]:02X}", raw)
        if len(raw) != expected:
            raise FrameError(
                f"CU16 command 0x{raw[2]:02X} frame must be {expected} bytes, got {len(raw)}",
                raw,
            )
        if raw[-2] != ETX:
            raise FrameError("CU16 frame has no ETX 0x03 before its checksum", raw)
        kerong.check_sum(raw, "CU16")
        return cls(addr=raw[1], cmd=raw[2], data=raw[3:-2])


def query_status(board: int) -> Frame:
    """0x30: ask one board for its 16 lock bits and 16 IR bits."""
    return Frame(address(board), Command.QUERY_STATUS)


def unlock(board: int, lock: int) -> Frame:
    """0x31: release one lock (1-based)."""
    return Frame(address(board, lock), Command.UNLOCK)


def query_all() -> Frame:
    """0x32 on the broadcast address: every board on the bus answers with its status."""
    return Frame(BROADCAST_ADDR, Command.QUERY_ALL)


def unlock_all(board: int) -> Frame:
    """0x33: release every lock of one board (one source only)."""
    return Frame(address(board), Command.UNLOCK_ALL)


def unlock_time(board: int, tenths: int) -> Frame:
    """0x37: set the coil hold time in 100 ms units, or query it with 0 (one source only)."""
    if not 0 <= tenths <= 0xFF:
        raise ValueError("unlock time must fit one byte of 100 ms units")
    return Frame(address(board), Command.UNLOCK_TIME, bytes((tenths,)))


def delayed_unlock(board: int, lock: int, seconds: int) -> Frame:
    """0x39: release a lock after a delay in seconds (one source only)."""
    if not 0 <= seconds <= 0xFF:
        raise ValueError("unlock delay must fit one byte of seconds")
    return Frame(address(board, lock), Command.DELAYED_UNLOCK, bytes((seconds,)))


@dataclass(frozen=True)
class BoardStatus:
    """A decoded 0x35 status reply: per lock, locked or not; per compartment, occupied or not.

    Index 0 of each tuple is lock or sensor 1.
    """

    board: int
    locked: tuple[bool, ...]
    occupied: tuple[bool, ...]

    def __post_init__(self) -> None:
        if len(self.locked) != LOCKS_PER_BOARD or len(self.occupied) != LOCKS_PER_BOARD:
            raise ValueError(f"a CU16 status has {LOCKS_PER_BOARD} locks and sensors")

    def to_frame(
        self,
        polarity: LockPolarity = LockPolarity.ONE_IS_LOCKED,
        cmd: Command = Command.STATUS,
    ) -> Frame:
        """The reply frame: `cmd` 0x35 (to 0x30) or 0x36 (to 0x32, docs/hardware.md §1)."""
        if cmd not in STATUS_REPLIES:
            raise ValueError(f"a CU16 status reply is 0x35 or 0x36, not 0x{cmd:02X}")
        lock_bits = tuple(
            locked == (polarity is LockPolarity.ONE_IS_LOCKED) for locked in self.locked
        )
        return Frame(
            address(self.board),
            cmd,
            pack_bits(lock_bits) + pack_bits(self.occupied),
        )

    def to_bytes(
        self,
        polarity: LockPolarity = LockPolarity.ONE_IS_LOCKED,
        cmd: Command = Command.STATUS,
    ) -> bytes:
        return self.to_frame(polarity, cmd).to_bytes()

    @classmethod
    def from_frame(
        cls, frame: Frame, polarity: LockPolarity = LockPolarity.ONE_IS_LOCKED
    ) -> BoardStatus:
        if frame.cmd not in STATUS_REPLIES:
            raise FrameError(
                f"expected a CU16 status reply 0x35 or 0x36, got command 0x{frame.cmd:02X}",
                frame.to_bytes(),
            )
        bits = unpack_bits(frame.data[0:2])
        locked = tuple(bit == (polarity is LockPolarity.ONE_IS_LOCKED) for bit in bits)
        return cls(frame.board, locked, unpack_bits(frame.data[2:4]))

    @classmethod
    def from_bytes(
        cls, raw: bytes, polarity: LockPolarity = LockPolarity.ONE_IS_LOCKED
    ) -> BoardStatus:
        return cls.from_frame(Frame.from_bytes(raw), polarity)


def _measure(buffer: bytes) -> int | None:
    if len(buffer) < 3:
        return None
    return frame_length(buffer[2]) or 0


def reassembler() -> FrameReassembler:
    """A stream reassembler for CU16 frames in either direction."""
    return kerong.reassembler(_measure, kerong.ends_well, MAX_FRAME_LENGTH)


FACTS = FamilyFacts(
    family=BoardFamily.CU16,
    title="Kerong CU16",
    baud_rate=BAUD_RATE,
    board_ids=range(0, MAX_BOARD + 1),
    locks_per_board=LOCKS_PER_BOARD,
    max_boards=MAX_BOARDS_ON_BUS,
    lock_noun="lock",
    source="hardware.md §1",
)
