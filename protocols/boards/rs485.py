"""The generic RS485 lock board of the "0x8A/0x80" family, 8 to 50 channels.

hardware.md §2. Every frame is HEAD BOARD ... X, X = XOR of every byte before it.
Channels are 1-based; channel 0 in an unlock or query means "all channels".

  unlock          8A BB CC 11 X   ->  8A BB CC SS X   (SS = door feedback, 00 or 11)
  query channel   80 BB CC 33 X   ->  80 BB CC SS X
  query all       80 BB 00 33 X   ->  80 BB Sn .. S1 33 X   (S1 = channels 1-8, bit 0 = ch 1)
  open all        8A BB 00 11 X
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from functools import reduce

from protocols.boards.bits import pack_bits, unpack_bits
from protocols.boards.family import BoardFamily, FamilyFacts
from protocols.errors import FrameError
from protocols.reassembly import FrameReassembler

UNLOCK_HEAD = 0x8A
QUERY_HEAD = 0x80
UNLOCK_OP = 0x11
QUERY_OP = 0x33
BAUD_RATE = 9600  # hardware.md §2: 9600 baud, 8N1
MIN_BOARD, MAX_BOARD = 1, 31  # DIP-switch address
MIN_CHANNELS, MAX_CHANNELS = 8, 50
SHORT_FRAME_LENGTH = 5
# Timing used by a mature open-source driver (hardware.md §2).
RESPONSE_TIMEOUT_S = 1.5
FRAME_SILENCE_S = 0.025
TRANSACTION_GAP_S = 0.005
# A real 8-channel board answered query-all with three status bytes, so the count is not
# simply channels / 8: it is a property of the board model, configurable, at least this.
MIN_STATUS_BYTES = 3
MAX_STATUS_BYTES = 7  # 50 channels
# A query-all reply of one status byte, 80 BB S1 33 X, is five bytes like a channel reply,
# so nobody could tell the two apart: such a reply is neither made nor expected.
_MIN_ALL_STATUS_BYTES = 2
MAX_FRAME_LENGTH = 4 + MAX_STATUS_BYTES


class Feedback(enum.IntEnum):
    """The door-feedback byte. Which level means "open" depends on the lock (configurable)."""

    LOW = 0x00
    HIGH = 0x11


def check_byte(data: bytes) -> int:
    """XOR of every byte of `data`."""
    return reduce(lambda acc, b: acc ^ b, data, 0)


def status_byte_count(channels: int) -> int:
    """How many status bytes a board of `channels` answers query-all with, by default."""
    if not MIN_CHANNELS <= channels <= MAX_CHANNELS:
        raise ValueError(f"a board has {MIN_CHANNELS}-{MAX_CHANNELS} channels, not {channels}")
    return max(MIN_STATUS_BYTES, -(-channels // 8))


def _frame(head: int, board: int, body: bytes) -> bytes:
    if not MIN_BOARD <= board <= MAX_BOARD:
        raise ValueError(f"board address {board} is outside {MIN_BOARD}-{MAX_BOARD}")
    raw = bytes((head, board, *body))
    return raw + bytes((check_byte(raw),))


def _channel(channel: int, allow_all: bool) -> int:
    low = 0 if allow_all else 1
    if not low <= channel <= MAX_CHANNELS:
        raise ValueError(f"channel {channel} is outside {low}-{MAX_CHANNELS}")
    return channel


@dataclass(frozen=True)
class Unlock:
    """8A BB CC 11 X: release one channel, or every channel when channel is 0 (open all)."""

    board: int
    channel: int

    def to_bytes(self) -> bytes:
        return _frame(UNLOCK_HEAD, self.board, bytes((_channel(self.channel, True), UNLOCK_OP)))


@dataclass(frozen=True)
class QueryChannel:
    """80 BB CC 33 X: the door feedback of one channel."""

    board: int
    channel: int

    def to_bytes(self) -> bytes:
        return _frame(QUERY_HEAD, self.board, bytes((_channel(self.channel, False), QUERY_OP)))


@dataclass(frozen=True)
class QueryAll:
    """80 BB 00 33 X: the door feedback of every channel."""

    board: int

    def to_bytes(self) -> bytes:
        return _frame(QUERY_HEAD, self.board, bytes((0, QUERY_OP)))


HostFrame = Unlock | QueryChannel | QueryAll


@dataclass(frozen=True)
class UnlockReply:
    """8A BB CC SS X, about 500 ms after an unlock."""

    board: int
    channel: int
    feedback: int

    def to_bytes(self) -> bytes:
        return _frame(UNLOCK_HEAD, self.board, bytes((self.channel, self.feedback)))


@dataclass(frozen=True)
class ChannelStatus:
    """80 BB CC SS X, the answer to a query of one channel."""

    board: int
    channel: int
    feedback: int

    def to_bytes(self) -> bytes:
        return _frame(QUERY_HEAD, self.board, bytes((self.channel, self.feedback)))


@dataclass(frozen=True)
class AllStatus:
    """80 BB Sn .. S1 33 X. `channels[i]` is the feedback bit of channel i+1."""

    board: int
    channels: tuple[bool, ...]

    def to_bytes(self) -> bytes:
        count = len(self.channels) // 8
        if count * 8 != len(self.channels) or count < 1:
            raise ValueError("channel bits come in whole status bytes")
        if count < _MIN_ALL_STATUS_BYTES:
            raise ValueError(
                f"a query-all reply needs at least {_MIN_ALL_STATUS_BYTES} status bytes: "
                "with one it reads as a channel reply"
            )
        groups = pack_bits(self.channels)[::-1]  # highest channel group first
        return _frame(QUERY_HEAD, self.board, bytes((*groups, QUERY_OP)))


BoardFrame = UnlockReply | ChannelStatus | AllStatus


def _checked(raw: bytes) -> bytes:
    raw = bytes(raw)
    if len(raw) < SHORT_FRAME_LENGTH:
        raise FrameError("RS485 frame shorter than 5 bytes", raw)
    if raw[0] not in (UNLOCK_HEAD, QUERY_HEAD):
        raise FrameError("RS485 frame does not start with 0x8A or 0x80", raw)
    if check_byte(raw[:-1]) != raw[-1]:
        raise FrameError(
            f"RS485 check byte 0x{raw[-1]:02X} should be 0x{check_byte(raw[:-1]):02X}", raw
        )
    if not MIN_BOARD <= raw[1] <= MAX_BOARD:
        raise FrameError(f"RS485 board address {raw[1]} is outside 1-31", raw)
    return raw


def decode_host_frame(raw: bytes) -> HostFrame:
    """Decode what a host sends to a board (the board's, or the simulator's, side)."""
    raw = _checked(raw)
    if len(raw) != SHORT_FRAME_LENGTH:
        raise FrameError("RS485 host frames are 5 bytes", raw)
    head, board, channel, op = raw[0], raw[1], raw[2], raw[3]
    if channel > MAX_CHANNELS:
        raise FrameError(f"RS485 channel {channel} is outside 0-{MAX_CHANNELS}", raw)
    if head == UNLOCK_HEAD and op == UNLOCK_OP:
        return Unlock(board, channel)
    if head == QUERY_HEAD and op == QUERY_OP:
        return QueryAll(board) if channel == 0 else QueryChannel(board, channel)
    raise FrameError(f"unknown RS485 operation 0x{op:02X} after head 0x{head:02X}", raw)


def decode_board_frame(raw: bytes) -> BoardFrame:
    """Decode what a board answers (the host's side)."""
    raw = _checked(raw)
    head, board = raw[0], raw[1]
    if len(raw) == SHORT_FRAME_LENGTH:
        if head == UNLOCK_HEAD:
            return UnlockReply(board, raw[2], raw[3])
        return ChannelStatus(board, raw[2], raw[3])
    if head != QUERY_HEAD or raw[-2] != QUERY_OP:
        raise FrameError("a long RS485 reply must be a query-all status ending 33 X", raw)
    groups = raw[2:-2]
    if len(groups) > MAX_STATUS_BYTES:
        raise FrameError(f"RS485 query-all reply has {len(groups)} status bytes", raw)
    return AllStatus(board, unpack_bits(groups[::-1]))


def _check(frame: bytes) -> bool:
    return check_byte(frame[:-1]) == frame[-1]


def host_reassembler() -> FrameReassembler:
    """Reassembles what a host sends: every host frame is 5 bytes."""
    return FrameReassembler(
        frozenset((UNLOCK_HEAD, QUERY_HEAD)),
        lambda _buf: SHORT_FRAME_LENGTH,
        _check,
        SHORT_FRAME_LENGTH,
    )


class ReplyReassembler(FrameReassembler):
    """Reassembles a board's replies on the host side.

    A query-all reply is longer than the others and the stream alone cannot say which one is
    coming (its third byte is data), so the driver, which serialises the bus and knows what it
    asked, sets `expect_all_status` before each transaction.
    """

    def __init__(self, status_bytes: int = MIN_STATUS_BYTES) -> None:
        if not _MIN_ALL_STATUS_BYTES <= status_bytes <= MAX_STATUS_BYTES:
            raise ValueError(
                f"status bytes must be {_MIN_ALL_STATUS_BYTES}-{MAX_STATUS_BYTES}: a one-byte "
                "query-all reply reads as a channel reply"
            )
        self.status_bytes = status_bytes
        self.expect_all_status = False
        super().__init__(
            frozenset((UNLOCK_HEAD, QUERY_HEAD)), self._measure_reply, _check, MAX_FRAME_LENGTH
        )

    def _measure_reply(self, buffer: bytes) -> int | None:
        if buffer[0] == QUERY_HEAD and self.expect_all_status:
            return 4 + self.status_bytes
        return SHORT_FRAME_LENGTH


FACTS = FamilyFacts(
    family=BoardFamily.RS485_8A,
    title='generic RS485 "0x8A/0x80" board',
    baud_rate=BAUD_RATE,
    board_ids=range(MIN_BOARD, MAX_BOARD + 1),
    locks_per_board=MAX_CHANNELS,
    max_boards=MAX_BOARD - MIN_BOARD + 1,
    lock_noun="channel",
    source="hardware.md §2",
)
