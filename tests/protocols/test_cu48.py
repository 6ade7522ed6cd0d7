"""The Kerong CU48 codec against the bytes its sources publish (hardware.md §6)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.boards import cu48
from protocols.errors import FrameError

# Published frames, each with where it is printed.
VECTORS = [
    # pirumu/node-pc cu.constants.ts CU_DETECTION_MESSAGE; AshurkovAV GetStatusAll
    (cu48.query_status(0), "02 00 00 60 03 65"),
    # pirumu/node-pc cu.constants.ts MESS_CU_TEMP (lock 1 of board 0); AshurkovAV Unlock1
    (cu48.unlock(0, 1), "02 00 00 61 03 66"),
    # pirumu/node-pc cu.protocol.ts: byte 1 the board, byte 2 the 0-based lock
    (cu48.unlock(1, 1), "02 01 00 61 03 67"),
    (cu48.unlock(0, 48), "02 00 2f 61 03 95"),
]


@pytest.mark.parametrize(("request_", "wire"), VECTORS)
def test_host_frames_are_the_published_bytes(request_: cu48.Request, wire: str) -> None:
    assert request_.to_bytes() == bytes.fromhex(wire)
    assert cu48.Request.from_bytes(bytes.fromhex(wire)) == request_


def test_the_published_unlock_answer_decodes() -> None:
    # pirumu/node-pc cu.protocol.spec.ts: 02 01 00 75 00 78, "lock 1 of device 1 opened"
    assert cu48.decode_board_frame(bytes.fromhex("02 01 00 75 00 78")) == cu48.UnlockAck(1, 1)


def test_a_status_is_18_bytes_lock_bits_lsb_first_then_the_sensors() -> None:
    locked = tuple(i in (0, 9, 47) for i in range(48))  # locks 1, 10 and 48 locked
    occupied = tuple(i == 1 for i in range(48))  # sensor 2 sees a parcel
    raw = cu48.BoardStatus(3, locked, occupied).to_bytes()
    assert raw == bytes.fromhex("02 03 00 75 0c 01 02 00 00 00 80 02 00 00 00 00 00 0b")
    assert len(raw) == cu48.STATUS_FRAME_LENGTH == 18
    assert cu48.decode_board_frame(raw) == cu48.BoardStatus(3, locked, occupied)


bits = st.tuples(*[st.booleans()] * 48)
boards = st.integers(0, cu48.MAX_BOARD)
frames = st.one_of(
    st.builds(cu48.BoardStatus, boards, bits, bits),
    st.builds(cu48.UnlockAck, boards, st.integers(1, 48)),
)
requests = st.one_of(
    st.builds(cu48.query_status, boards), st.builds(cu48.unlock, boards, st.integers(1, 48))
)


@given(frames)
def test_board_frames_round_trip(frame: cu48.BoardFrame) -> None:
    assert cu48.decode_board_frame(frame.to_bytes()) == frame


@given(requests)
def test_host_frames_round_trip_and_reassemble(request_: cu48.Request) -> None:
    raw = request_.to_bytes()
    assert cu48.Request.from_bytes(raw) == request_
    assert cu48.reassembler().feed(b"\x00\xff" + raw) == [raw]


@given(st.binary(max_size=40))
def test_any_bytes_decode_or_raise_frame_error_carrying_them(raw: bytes) -> None:
    for decode in (cu48.decode_board_frame, cu48.Request.from_bytes):
        try:
            decode(raw)
        except FrameError as error:
            assert error.data == raw


@given(frames, st.integers(0, 17))
def test_one_flipped_byte_is_refused(frame: cu48.BoardFrame, at: int) -> None:
    raw = bytearray(frame.to_bytes())
    at %= len(raw)
    raw[at] ^= 0x01  # a sum checksum catches any one byte changed
    with pytest.raises(FrameError):
        cu48.decode_board_frame(bytes(raw))
