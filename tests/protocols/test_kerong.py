"""Kerong CU16 frames: the documented byte vectors of hardware.md §1, round trips, fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols import FrameError, ProtocolError
from protocols.boards import cu16 as k
from protocols.boards.cu16 import BoardStatus, Command, Frame, LockPolarity


def hx(text: str) -> bytes:
    return bytes.fromhex(text)


# --------------------------------------------------------------------------- byte vectors

HOST_VECTORS = [
    # (documented bytes, the frame our builders make, board, 1-based lock, command)
    ("02 00 31 03 36", k.unlock(0, 1), 0, 1, Command.UNLOCK),
    ("02 12 31 03 48", k.unlock(1, 3), 1, 3, Command.UNLOCK),
    ("02 F0 32 03 27", k.query_all(), 15, 1, Command.QUERY_ALL),
    ("02 00 30 03 35", k.query_status(0), 0, 1, Command.QUERY_STATUS),
]


@pytest.mark.parametrize(("text", "built", "board", "lock", "cmd"), HOST_VECTORS)
def test_documented_host_frames_encode_and_decode(
    text: str, built: Frame, board: int, lock: int, cmd: Command
) -> None:
    raw = hx(text)
    assert built.to_bytes() == raw
    frame = Frame.from_bytes(raw)
    assert frame == built
    assert (frame.board, frame.lock, frame.cmd) == (board, lock, cmd)


def test_query_all_uses_the_broadcast_address() -> None:
    assert Frame.from_bytes(hx("02 F0 32 03 27")).addr == k.BROADCAST_ADDR == 0xF0


def test_documented_status_reply_lock_1_released_compartment_1_full() -> None:
    raw = hx("02 00 35 FE FF 01 00 03 38")
    status = BoardStatus.from_bytes(raw)  # default polarity: a set bit means locked
    assert status.board == 0
    assert status.locked == (False,) + (True,) * 15
    assert status.occupied == (True,) + (False,) * 15
    assert status.to_bytes() == raw


def test_inverted_polarity_reads_the_same_bytes_the_other_way() -> None:
    raw = hx("02 00 35 FE FF 01 00 03 38")
    status = BoardStatus.from_bytes(raw, LockPolarity.ZERO_IS_LOCKED)
    assert status.locked == (True,) + (False,) * 15
    assert status.occupied == (True,) + (False,) * 15  # IR bits never invert
    assert status.to_bytes(LockPolarity.ZERO_IS_LOCKED) == raw
    # The same state sent to a board of the common polarity is other bytes.
    assert status.to_bytes(LockPolarity.ONE_IS_LOCKED) == hx("02 00 35 01 00 01 00 03 3C")


def test_status_of_board_3_lock_16_and_sensor_9() -> None:
    locked = (True,) * 15 + (False,)
    occupied = (False,) * 8 + (True,) + (False,) * 7
    raw = BoardStatus(3, locked, occupied).to_bytes()
    # ADDR 0x30, L1-8 FF, L9-16 7F (lock 16 released), IR1-8 00, IR9-16 01 (sensor 9)
    body = hx("02 30 35 FF 7F 00 01 03")
    assert raw == body + bytes((sum(body) & 0xFF,))
    assert BoardStatus.from_bytes(raw) == BoardStatus(3, locked, occupied)


def test_one_source_commands_unlock_all_unlock_time_delayed_unlock() -> None:
    assert k.unlock_all(2).to_bytes() == hx("02 20 33 03 58")
    assert k.unlock_time(0, 5).to_bytes() == hx("02 00 37 05 03 41")
    assert k.delayed_unlock(1, 2, 10).to_bytes() == hx("02 11 39 0A 03 59")
    for frame in (k.unlock_all(2), k.unlock_time(0, 5), k.delayed_unlock(1, 2, 10)):
        assert Frame.from_bytes(frame.to_bytes()) == frame


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("02 00 31 03 37", "checksum"),  # corrupted checksum
        ("02 00 31 04 3A", "ETX"),  # no ETX before the checksum
        ("02 00 31 03", "shorter"),  # cut off
        ("02 00 31 00 03 39", "must be 5 bytes"),  # an unlock with a stray data byte
        ("02 00 35 FE FF 01 03 37", "must be 9 bytes"),  # a status reply one byte short
        ("02 00 40 03 45", "unknown CU16 command 0x40"),
        ("03 00 31 03 37", "STX"),
        ("", "shorter"),
    ],
)
def test_bad_frames_raise_frame_error_carrying_the_bytes(text: str, words: str) -> None:
    raw = hx(text)
    with pytest.raises(FrameError) as caught:
        Frame.from_bytes(raw)
    assert caught.value.data == raw
    assert words in str(caught.value)
    assert (raw.hex(" ") or "none") in str(caught.value)


def test_a_status_decoder_refuses_a_frame_that_is_not_a_status_reply() -> None:
    with pytest.raises(FrameError, match="0x35"):
        BoardStatus.from_bytes(hx("02 00 31 03 36"))


def test_builders_refuse_addresses_the_bus_cannot_carry() -> None:
    with pytest.raises(ValueError, match="board"):
        k.unlock(16, 1)
    with pytest.raises(ValueError, match="lock"):
        k.unlock(0, 17)
    with pytest.raises(ValueError, match="lock"):
        k.unlock(0, 0)


# ------------------------------------------------------------------------------ round trips

bits16 = st.tuples(*[st.booleans()] * 16)
polarities = st.sampled_from(LockPolarity)
frames = st.one_of(
    st.builds(k.unlock, st.integers(0, 15), st.integers(1, 16)),
    st.builds(k.query_status, st.integers(0, 15)),
    st.just(k.query_all()),
    st.builds(k.unlock_all, st.integers(0, 15)),
    st.builds(k.unlock_time, st.integers(0, 15), st.integers(0, 255)),
    st.builds(k.delayed_unlock, st.integers(0, 15), st.integers(1, 16), st.integers(0, 255)),
    st.builds(
        lambda board, lb, ir: Frame(board << 4, Command.STATUS, bytes((*lb, *ir))),
        st.integers(0, 15),
        st.binary(min_size=2, max_size=2),
        st.binary(min_size=2, max_size=2),
    ),
)


@settings(deadline=None, max_examples=500)
@given(frames)
def test_every_frame_round_trips(frame: Frame) -> None:
    raw = frame.to_bytes()
    assert len(raw) == k.frame_length(frame.cmd)
    assert raw[-1] == sum(raw[:-1]) & 0xFF
    assert Frame.from_bytes(raw) == frame


@settings(deadline=None, max_examples=500)
@given(st.integers(0, 15), bits16, bits16, polarities)
def test_board_status_round_trips_with_either_polarity(
    board: int, locked: tuple[bool, ...], occupied: tuple[bool, ...], polarity: LockPolarity
) -> None:
    status = BoardStatus(board, locked, occupied)
    raw = status.to_bytes(polarity)
    assert BoardStatus.from_bytes(raw, polarity) == status
    other = next(p for p in LockPolarity if p is not polarity)
    flipped = BoardStatus.from_bytes(raw, other)
    assert flipped.locked == tuple(not bit for bit in locked)
    assert flipped.occupied == occupied


# ------------------------------------------------------------ parsers: object or FrameError

frame_like = st.one_of(
    st.binary(max_size=12),
    st.builds(
        lambda addr, cmd, data, etx: bytes((k.STX, addr, cmd, *data, etx)),
        st.integers(0, 255),
        st.sampled_from([*Command, 0x00, 0x34, 0xFF]),
        st.binary(max_size=5),
        st.sampled_from([k.ETX, 0x00]),
    ).flatmap(
        lambda body: st.sampled_from(
            [body + bytes((sum(body) & 0xFF,)), body + bytes(((sum(body) + 1) & 0xFF,))]
        )
    ),
)


@settings(deadline=None, max_examples=3000)
@given(frame_like, polarities)
def test_arbitrary_bytes_give_a_frame_or_frame_error(raw: bytes, polarity: LockPolarity) -> None:
    try:
        frame = Frame.from_bytes(raw)
    except ProtocolError as exc:
        assert isinstance(exc, FrameError)
        assert exc.data == raw
    else:
        assert frame.to_bytes() == raw
    try:
        status = BoardStatus.from_bytes(raw, polarity)
    except FrameError:
        pass
    else:
        assert BoardStatus.from_bytes(status.to_bytes(polarity), polarity) == status
