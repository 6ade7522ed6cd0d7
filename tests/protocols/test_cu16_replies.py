"""CU16 status replies under 0x35 and 0x36 (docs/hardware.md §1), as the published drivers show."""

from __future__ import annotations

import pytest

from protocols.boards import cu16
from protocols.boards.cu16 import BoardStatus, Command, Frame
from protocols.errors import FrameError

# Recorded in a published driver's comments: two boards answering 0x32, every lock bit 0.
CAPTURED_B0 = bytes.fromhex("02 00 36 00 00 00 00 03 3B")
CAPTURED_B1 = bytes.fromhex("02 10 36 00 00 00 00 03 4B")


@pytest.mark.parametrize(("raw", "board"), [(CAPTURED_B0, 0), (CAPTURED_B1, 1)])
def test_the_captured_0x36_replies_decode_as_statuses(raw: bytes, board: int) -> None:
    status = BoardStatus.from_bytes(raw)
    assert status.board == board
    assert not any(status.locked) and not any(status.occupied)  # 1 = locked: all released
    assert status.to_bytes(cmd=Command.ALL_STATUS) == raw
    assert status.to_bytes() == raw[:2] + b"\x35" + raw[3:8] + bytes(((raw[8] - 1) & 0xFF,))


def test_a_status_is_only_ever_0x35_or_0x36() -> None:
    status = BoardStatus.from_bytes(CAPTURED_B0)
    with pytest.raises(ValueError, match="0x35 or 0x36"):
        status.to_frame(cmd=Command.UNLOCK)
    with pytest.raises(FrameError, match="0x35 or 0x36"):
        BoardStatus.from_frame(Frame(0x00, Command.QUERY_STATUS))


def test_a_0x36_frame_is_reassembled_one_byte_at_a_time_after_noise() -> None:
    reassembler = cu16.reassembler()
    stream = bytes.fromhex("FF 02 77") + CAPTURED_B1
    frames = [f for b in stream for f in reassembler.feed(bytes((b,)))]
    assert frames == [CAPTURED_B1]
