"""The Kerong CU48 codec against the bytes its sources publish (hardware.md §6)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
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
    # AshurkovAV/KerongConsole "Коды для контролера запрос ответ.txt", bytes sent to a real
    # board: "open the lock of cell two" ... "cell five" (the lock in byte 2, as node-pc)
    (cu48.unlock(0, 2), "02 00 01 61 03 67"),
    (cu48.unlock(0, 3), "02 00 02 61 03 68"),
    (cu48.unlock(0, 4), "02 00 03 61 03 69"),
    (cu48.unlock(0, 5), "02 00 04 61 03 6a"),
]

# Status answers of a real board, board 0, from the same capture file, with the locks it
# names closed (1-based). 02 00 00 75, twelve data bytes, 03, SUM: 18 bytes, no length byte.
CAPTURED_STATUS = [
    ("02 00 00 75 00 00 00 00 00 00 00 00 00 00 00 00 03 7a", (), ()),  # "all cells open"
    ("02 00 00 75 01 00 00 00 00 00 00 00 00 00 00 00 03 7b", (1,), ()),
    ("02 00 00 75 02 00 00 00 00 00 00 00 00 00 00 00 03 7c", (2,), ()),
    ("02 00 00 75 04 00 00 00 00 00 00 00 00 00 00 00 03 7e", (3,), ()),
    ("02 00 00 75 08 00 00 00 00 00 00 00 00 00 00 00 03 82", (4,), ()),
    ("02 00 00 75 10 00 00 00 00 00 00 00 00 00 00 00 03 8a", (5,), ()),
    ("02 00 00 75 00 20 00 00 00 00 00 00 00 00 00 00 03 9a", (14,), ()),  # "cell 14"
    # Unlabelled in the capture: byte 10 (the 7th data byte) set apart from the lock bits,
    # which hardware.md §6 reads as compartment 1's IR sensor.
    ("02 00 00 75 01 00 00 00 00 00 01 00 00 00 00 00 03 7c", (1,), (1,)),
    ("02 00 00 75 00 00 00 00 00 00 01 00 00 00 00 00 03 7b", (), (1,)),
]


@pytest.mark.parametrize(("request_", "wire"), VECTORS)
def test_host_frames_are_the_published_bytes(request_: cu48.Request, wire: str) -> None:
    assert request_.to_bytes() == bytes.fromhex(wire)
    assert cu48.Request.from_bytes(bytes.fromhex(wire)) == request_


def test_the_published_unlock_answer_decodes() -> None:
    # pirumu/node-pc cu.protocol.spec.ts: 02 01 00 75 00 78, "lock 1 of device 1 opened"
    assert cu48.decode_board_frame(bytes.fromhex("02 01 00 75 00 78")) == cu48.UnlockAck(1, 1)


@pytest.mark.parametrize(("wire", "closed", "seen"), CAPTURED_STATUS)
def test_a_captured_status_decodes_and_is_what_the_codec_sends(
    wire: str, closed: tuple[int, ...], seen: tuple[int, ...]
) -> None:
    raw = bytes.fromhex(wire)
    status = cu48.BoardStatus(
        0,
        tuple(lock in closed for lock in range(1, 49)),
        tuple(lock in seen for lock in range(1, 49)),
    )
    assert cu48.decode_board_frame(raw) == status
    assert status.to_bytes() == raw
    assert cu48.reassembler().feed(b"\x75\x03" + raw + raw[:7]) == [raw]


def test_a_status_is_18_bytes_lock_bits_lsb_first_then_the_sensors() -> None:
    locked = tuple(i in (0, 9, 47) for i in range(48))  # locks 1, 10 and 48 locked
    occupied = tuple(i == 1 for i in range(48))  # sensor 2 sees a parcel
    raw = cu48.BoardStatus(3, locked, occupied).to_bytes()
    assert raw == bytes.fromhex("02 03 00 75 01 02 00 00 00 80 02 00 00 00 00 00 03 02")
    assert len(raw) == cu48.STATUS_FRAME_LENGTH == 18
    assert cu48.decode_board_frame(raw) == cu48.BoardStatus(3, locked, occupied)


def test_the_length_byte_layout_of_node_pc_s_older_parser_is_refused() -> None:
    # node-pc's first parser read a length at byte 4 and data from byte 5, no ETX; a real
    # board's answer (above) has none. Such a frame must not pass for a status.
    body = bytes.fromhex("02 00 00 75 0c") + bytes(12)
    with pytest.raises(FrameError):
        cu48.decode_board_frame(body + bytes((cu48.checksum(body),)))


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


# ------------------------------------------------------------ the stream: reassembly

# A status whose locks 1-8 are open and whose next byte happens to be the sum an unlock
# answer for lock 1 would carry: its first six bytes pass for 02 00 00 75 00 77.
LOOKS_LIKE_AN_ANSWER = cu48.BoardStatus(
    0, tuple(i in (8, 9, 10, 12, 13, 14) for i in range(48)), (False,) * 48
).to_bytes()


def test_a_status_that_begins_like_an_unlock_answer_is_not_cut() -> None:
    assert LOOKS_LIKE_AN_ANSWER[:6] == cu48.UnlockAck(0, 1).to_bytes()
    ack_1, ack_5 = cu48.UnlockAck(0, 1).to_bytes(), cu48.UnlockAck(0, 5).to_bytes()
    line = ack_1 + LOOKS_LIKE_AN_ANSWER + ack_5 + LOOKS_LIKE_AN_ANSWER
    for size in (1, 5, 7, len(line)):
        reassembler = cu48.reassembler()
        out = [f for i in range(0, len(line), size) for f in reassembler.feed(line[i : i + size])]
        assert out == [ack_1, LOOKS_LIKE_AN_ANSWER, ack_5, LOOKS_LIKE_AN_ANSWER], size


def test_a_truncated_status_then_a_whole_one_gives_the_whole_one() -> None:
    status = cu48.BoardStatus(2, (True,) * 48, (False,) * 48).to_bytes()
    reassembler = cu48.reassembler()
    assert reassembler.feed(status[:11]) == []
    assert reassembler.feed(status) == [status]  # the cut one fails its sum, then resync
    assert reassembler.stats.bad_frames >= 1


def test_noise_inside_a_status_loses_that_status_only() -> None:
    first = cu48.BoardStatus(0, (True,) * 48, (False,) * 48).to_bytes()
    second = cu48.BoardStatus(1, (False,) * 48, (True,) * 48).to_bytes()
    hit = bytearray(first)
    hit[9] ^= 0x10
    assert cu48.reassembler().feed(bytes(hit) + b"\x02\x02" + second) == [second]


ack_not_lock_1 = st.builds(cu48.UnlockAck, boards, st.integers(2, 48))
stream_frames = st.lists(
    st.one_of(st.builds(cu48.BoardStatus, boards, bits, bits), ack_not_lock_1, requests),
    min_size=1,
    max_size=6,
)
clean_noise = st.binary(max_size=8).map(lambda b: b.replace(b"\x02", b""))


@settings(deadline=None, max_examples=300)
@given(stream_frames, st.lists(clean_noise, min_size=7, max_size=7), st.integers(1, 19))
def test_frames_between_noise_come_out_whole_and_in_order_however_chunked(
    frames: list[cu48.BoardFrame | cu48.Request], noise: list[bytes], size: int
) -> None:
    # Noise without an STX between the frames, as a line picks up between answers. (An
    # unlock answer for lock 1 is left out: it waits for the bytes after it, above.)
    line = noise[0] + b"".join(f.to_bytes() + n for f, n in zip(frames, noise[1:], strict=False))
    reassembler = cu48.reassembler()
    out = [f for i in range(0, len(line), size) for f in reassembler.feed(line[i : i + size])]
    assert out == [f.to_bytes() for f in frames]


frame_like = st.builds(
    lambda head, data, tail: bytes((cu48.STX, *head, *data, *tail)),
    st.tuples(
        st.sampled_from([0, 1, 9, 10, 0xFF]),
        st.sampled_from([0, 1, 47, 48, 0xFF]),
        st.sampled_from([0x60, 0x61, 0x75, 0x77, 0x00]),
    ),
    st.one_of(st.just(b""), st.binary(min_size=1, max_size=1), st.binary(min_size=12, max_size=13)),
    st.sampled_from([b"", b"\x03", b"\x00"]),
).flatmap(
    lambda body: st.sampled_from(
        [body + bytes((cu48.checksum(body),)), body + bytes(((cu48.checksum(body) + 1) & 0xFF,))]
    )
)


@settings(deadline=None, max_examples=2000)
@given(st.one_of(frame_like, st.binary(max_size=24)))
def test_frame_like_bytes_decode_or_raise_frame_error_and_nothing_else(raw: bytes) -> None:
    for decode in (cu48.decode_board_frame, cu48.Request.from_bytes):
        try:
            frame = decode(raw)
        except FrameError as error:
            assert error.data == raw
        else:
            assert frame.to_bytes() == raw


@settings(deadline=None, max_examples=1000)
@given(st.lists(st.one_of(frame_like, st.binary(max_size=20)), max_size=12), st.integers(1, 20))
def test_any_stream_never_raises_and_yields_only_summed_frames(
    pieces: list[bytes], size: int
) -> None:
    line = b"".join(pieces)
    reassembler = cu48.reassembler()
    for i in range(0, len(line), size):
        for raw in reassembler.feed(line[i : i + size]):
            assert raw[0] == cu48.STX and cu48.checksum(raw[:-1]) == raw[-1]
            for decode in (cu48.decode_board_frame, cu48.Request.from_bytes):
                with contextlib.suppress(FrameError):
                    decode(raw)
        assert reassembler.pending < reassembler.max_frame
