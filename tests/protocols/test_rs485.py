"""Generic 0x8A/0x80 RS485 lock board: hardware.md §2 byte vectors, round trips, fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols import FrameError, ProtocolError
from protocols.boards import rs485 as r
from protocols.boards.rs485 import (
    AllStatus,
    ChannelStatus,
    Feedback,
    QueryAll,
    QueryChannel,
    Unlock,
    UnlockReply,
    decode_board_frame,
    decode_host_frame,
)


def hx(text: str) -> bytes:
    return bytes.fromhex(text)


@pytest.mark.parametrize(
    ("text", "frame"),
    [
        ("8A 01 01 11 9B", Unlock(1, 1)),  # documented: unlock board 1, channel 1
        ("8A 01 00 11 9A", Unlock(1, 0)),  # open all channels of board 1
        ("80 01 01 33 B3", QueryChannel(1, 1)),
        ("80 01 00 33 B2", QueryAll(1)),
        ("8A 1F 32 11 B6", Unlock(31, 50)),  # the last board's last channel
    ],
)
def test_host_frames_encode_and_decode(text: str, frame: r.HostFrame) -> None:
    raw = hx(text)
    assert frame.to_bytes() == raw
    assert decode_host_frame(raw) == frame


@pytest.mark.parametrize(
    ("text", "frame"),
    [
        ("8A 01 01 00 8A", UnlockReply(1, 1, Feedback.LOW)),  # unlock reply, SS = 00
        ("8A 01 01 11 9B", UnlockReply(1, 1, Feedback.HIGH)),  # unlock reply, SS = 11
        ("80 01 01 00 80", ChannelStatus(1, 1, Feedback.LOW)),
        ("80 01 01 11 91", ChannelStatus(1, 1, Feedback.HIGH)),
        # documented: a real 8-channel board answered query-all with three status bytes
        ("80 01 00 00 00 33 B2", AllStatus(1, (False,) * 24)),
    ],
)
def test_board_replies_encode_and_decode(text: str, frame: r.BoardFrame) -> None:
    raw = hx(text)
    assert frame.to_bytes() == raw
    assert decode_board_frame(raw) == frame


def test_query_all_reply_lists_the_highest_channel_group_first() -> None:
    # channels 1, 9 and 24 report high: S1 = 01, S2 = 01, S3 = 80, sent S3 S2 S1
    channels = tuple(ch in (1, 9, 24) for ch in range(1, 25))
    body = hx("80 02 80 01 01 33")
    raw = body + bytes((r.check_byte(body),))
    assert AllStatus(2, channels).to_bytes() == raw
    reply = decode_board_frame(raw)
    assert isinstance(reply, AllStatus)
    assert [i + 1 for i, high in enumerate(reply.channels) if high] == [1, 9, 24]


def test_status_byte_count_is_at_least_the_three_a_real_board_sent() -> None:
    assert r.status_byte_count(8) == 3
    assert r.status_byte_count(24) == 3
    assert r.status_byte_count(50) == 7
    with pytest.raises(ValueError, match="channels"):
        r.status_byte_count(51)


@pytest.mark.parametrize(
    ("text", "decoder", "words"),
    [
        ("8A 01 01 11 9C", decode_host_frame, "check byte"),  # corrupted check byte
        ("8A 01 01 11 9C", decode_board_frame, "check byte"),
        ("8A 01 01 11 00 9B", decode_host_frame, "5 bytes"),  # wrong length
        ("8A 01 01 9B", decode_host_frame, "shorter"),
        ("8A 01 01 9B", decode_board_frame, "shorter"),
        ("8A 01 01 22 A8", decode_host_frame, "unknown RS485 operation 0x22"),
        ("80 01 01 11 91", decode_host_frame, "unknown RS485 operation 0x11"),
        ("8A 01 33 11 A9", decode_host_frame, "channel 51"),
        ("8A 00 01 11 9A", decode_host_frame, "board address 0"),
        ("8A 20 01 11 BA", decode_board_frame, "board address 32"),
        ("7F 01 01 11 6E", decode_host_frame, "0x8A or 0x80"),
        ("8A 01 00 00 00 33 B8", decode_board_frame, "query-all"),  # long, but not 0x80
        ("80 01 00 00 00 34 B5", decode_board_frame, "query-all"),  # long, no 33 before X
    ],
)
def test_bad_frames_raise_frame_error_carrying_the_bytes(
    text: str, decoder: object, words: str
) -> None:
    raw = hx(text)
    assert callable(decoder)
    with pytest.raises(FrameError) as caught:
        decoder(raw)
    assert caught.value.data == raw
    assert words in str(caught.value)


def test_builders_refuse_what_the_bus_cannot_address() -> None:
    with pytest.raises(ValueError, match="board address 0"):
        Unlock(0, 1).to_bytes()
    with pytest.raises(ValueError, match="channel 0"):
        QueryChannel(1, 0).to_bytes()
    with pytest.raises(ValueError, match="channel 51"):
        Unlock(1, 51).to_bytes()
    with pytest.raises(ValueError, match="whole status bytes"):
        AllStatus(1, (True,) * 7).to_bytes()


def test_a_one_byte_query_all_reply_cannot_pass_as_a_channel_reply() -> None:
    # `80 BB S1 33 X` has the shape of a channel reply, so no decoder can tell it apart:
    # the codec refuses to make it rather than let a host misread the channel bits.
    with pytest.raises(ValueError, match="status bytes"):
        AllStatus(1, (True,) * 8).to_bytes()
    with pytest.raises(ValueError, match="status bytes"):
        r.ReplyReassembler(status_bytes=1)


# ------------------------------------------------------------------------------ round trips

boards = st.integers(r.MIN_BOARD, r.MAX_BOARD)
host_frames = st.one_of(
    st.builds(Unlock, boards, st.integers(0, r.MAX_CHANNELS)),
    st.builds(QueryChannel, boards, st.integers(1, r.MAX_CHANNELS)),
    st.builds(QueryAll, boards),
)
all_statuses = st.builds(
    AllStatus,
    boards,
    st.integers(2, r.MAX_STATUS_BYTES).flatmap(
        lambda n: st.lists(st.booleans(), min_size=8 * n, max_size=8 * n).map(tuple)
    ),
)
board_frames = st.one_of(
    st.builds(UnlockReply, boards, st.integers(0, 255), st.integers(0, 255)),
    st.builds(ChannelStatus, boards, st.integers(0, 255), st.integers(0, 255)),
    all_statuses,
)


@settings(deadline=None, max_examples=500)
@given(host_frames)
def test_every_host_frame_round_trips(frame: r.HostFrame) -> None:
    raw = frame.to_bytes()
    assert r.check_byte(raw) == 0  # XOR over a frame including its check byte is zero
    assert decode_host_frame(raw) == frame


@settings(deadline=None, max_examples=500)
@given(board_frames)
def test_every_board_frame_round_trips(frame: r.BoardFrame) -> None:
    raw = frame.to_bytes()
    assert r.check_byte(raw) == 0
    assert decode_board_frame(raw) == frame


# ------------------------------------------------------------ parsers: object or FrameError

frame_like = st.one_of(
    st.binary(max_size=14),
    st.builds(
        lambda head, board, body: bytes((head, board, *body)),
        st.sampled_from([r.UNLOCK_HEAD, r.QUERY_HEAD]),
        st.integers(0, 40),
        st.lists(st.sampled_from([0x00, 0x01, 0x11, 0x33, 0x32, 0xFF]), max_size=9),
    ).map(lambda body: body + bytes((r.check_byte(body),))),
)


@settings(deadline=None, max_examples=3000)
@given(frame_like)
def test_arbitrary_bytes_give_a_frame_or_frame_error(raw: bytes) -> None:
    for decoder in (decode_host_frame, decode_board_frame):
        try:
            frame = decoder(raw)
        except ProtocolError as exc:
            assert isinstance(exc, FrameError)
            assert exc.data == raw
        else:
            assert frame.to_bytes() == raw
