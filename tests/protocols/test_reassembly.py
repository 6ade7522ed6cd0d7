"""Stream reassembly: bytes in whatever chunks the line delivers, whole checked frames out.

Each stream is valid frames with garbage, line noise and cut-off frames between them. The
reassembler must yield exactly the valid frames, in order, however the stream is chunked,
and never hold more than one partial frame.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from protocols.boards import cu16 as k
from protocols.boards import rs485 as r
from protocols.reassembly import FrameReassembler

# --------------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class Stream:
    """A byte stream and the frames in it; `noise` marks bytes that belong to no frame."""

    frames: tuple[bytes, ...]
    data: bytes
    noise: tuple[bool, ...]


def build(segments: Sequence[tuple[str, bytes]]) -> Stream:
    frames: list[bytes] = []
    data = bytearray()
    noise: list[bool] = []
    for kind, raw in segments:
        if kind == "frame":
            frames.append(raw)
        data += raw
        noise += [kind != "frame"] * len(raw)
    return Stream(tuple(frames), bytes(data), tuple(noise))


def chunked(data: bytes, sizes: Sequence[int]) -> list[bytes]:
    """`data` cut into chunks of the given sizes (cycled); every chunk at least one byte."""
    chunks, pos, i = [], 0, 0
    while pos < len(data):
        size = sizes[i % len(sizes)] if sizes else len(data)
        chunks.append(data[pos : pos + size])
        pos += size
        i += 1
    return chunks


def feed_all(reassembler: FrameReassembler, chunks: Sequence[bytes]) -> list[bytes]:
    """Feed every chunk; check the buffer cap and the diagnostics counters after each."""
    out: list[bytes] = []
    fed = reassembler.pending
    discarded, frames = reassembler.stats.discarded_bytes, reassembler.stats.frames
    for chunk in chunks:
        out += reassembler.feed(chunk)
        fed += len(chunk)
        assert reassembler.pending < reassembler.max_frame  # never more than one partial frame
        # Every byte fed is in a frame, counted as discarded, or held as the partial frame.
        thrown = reassembler.stats.discarded_bytes - discarded
        assert thrown + sum(map(len, out)) + reassembler.pending == fed
    assert reassembler.stats.frames - frames == len(out)
    return out


def no_false_frame(
    stream: Stream, starts: frozenset[int], candidate: Callable[[bytes, int], bytes | None]
) -> bool:
    """True when no start byte among the noise begins bytes that would pass as a frame.

    Noise that happens to form a checked frame is indistinguishable from a frame on the wire
    (1 in 256 for the RS485 XOR byte); such draws prove nothing about the reassembler.
    """
    for pos, is_noise in enumerate(stream.noise):
        if is_noise and stream.data[pos] in starts and candidate(stream.data, pos) is not None:
            return False
    return True


chunk_sizes = st.lists(st.integers(1, 12), min_size=1, max_size=8)


# ----------------------------------------------------------------------------------- CU16

cu16_frames = st.one_of(
    st.builds(k.unlock, st.integers(0, 15), st.integers(1, 16)),
    st.builds(k.query_status, st.integers(0, 15)),
    st.just(k.query_all()),
    st.builds(k.unlock_time, st.integers(0, 15), st.integers(0, 255)),
    st.builds(
        lambda board, data: k.Frame(board << 4, k.Command.STATUS, data),
        st.integers(0, 15),
        st.binary(min_size=4, max_size=4),
    ),
).map(lambda frame: frame.to_bytes())


def cu16_candidate(data: bytes, pos: int) -> bytes | None:
    if pos + 2 >= len(data):
        return None
    length = k.frame_length(data[pos + 2])
    window = data[pos : pos + length] if length else b""
    if length and len(window) == length and window[-2] == k.ETX:
        return window if sum(window[:-1]) & 0xFF == window[-1] else None
    return None


def segments(frames: st.SearchStrategy[bytes]) -> st.SearchStrategy[list[tuple[str, bytes]]]:
    garbage = st.binary(min_size=1, max_size=12).map(lambda b: ("garbage", b))
    cut = frames.flatmap(lambda f: st.integers(1, len(f) - 1).map(lambda n: ("cut", f[:n])))
    return st.lists(
        st.one_of(frames.map(lambda f: ("frame", f)), garbage, cut), min_size=1, max_size=14
    )


# The line carries on after each stream with one more status reply (the longest frame).
# Without it, a frame right after a cut-off status header ("02 00 35", which announces nine
# bytes) would be held until more bytes came: the reassembler trusts a header until its
# frame is complete, so that no status reply whose data happens to hold a valid short frame
# is ever split. See test_cu16_a_frame_behind_a_cut_header_comes_out_with_the_next_bytes.
NEXT_REPLY = bytes.fromhex("02 00 35 FE FF 01 00 03 38")


@settings(deadline=None, max_examples=1000)
@given(segments(cu16_frames), chunk_sizes)
def test_cu16_yields_exactly_the_valid_frames_in_order(
    parts: list[tuple[str, bytes]], sizes: list[int]
) -> None:
    stream = build([*parts, ("frame", NEXT_REPLY)])
    assume(no_false_frame(stream, frozenset({k.STX}), cu16_candidate))
    reassembler = k.reassembler()
    got = feed_all(reassembler, chunked(stream.data, sizes))
    assert got == list(stream.frames)
    assert reassembler.pending == 0
    for raw in got:
        k.Frame.from_bytes(raw)


def test_cu16_a_frame_behind_a_cut_header_comes_out_with_the_next_bytes() -> None:
    reassembler = k.reassembler()
    query = bytes.fromhex("02 00 30 03 35")
    assert feed_all(reassembler, [bytes.fromhex("02 00 35"), query]) == []
    assert reassembler.pending == 8  # the cut header waits for the nine bytes it announced
    assert feed_all(reassembler, [NEXT_REPLY]) == [query, NEXT_REPLY]


def test_cu16_a_status_reply_whose_data_looks_like_a_frame_is_not_split() -> None:
    # IR and lock bytes 02 CE 30 03, then ETX 03: bytes 3-7 form the valid frame 02 CE 30 03 03.
    body = bytes.fromhex("02 00 35 02 CE 30 03 03")
    reply = body + bytes((sum(body) & 0xFF,))
    assert k.Frame.from_bytes(reply[3:8]).cmd == k.Command.QUERY_STATUS
    reassembler = k.reassembler()
    assert feed_all(reassembler, [bytes((b,)) for b in reply]) == [reply]


def test_cu16_one_byte_at_a_time_through_garbage_and_a_cut_frame() -> None:
    status = bytes.fromhex("02 00 35 FE FF 01 00 03 38")
    unlock = bytes.fromhex("02 12 31 03 48")
    line = (
        b"\xff\x00\x02\x02"  # noise, with start bytes in it
        + status
        + bytes.fromhex("02 00 35 FE FF")  # a status reply cut off by a glitch
        + unlock
        + bytes.fromhex("02 00 31 03 37")  # a bad checksum
        + bytes.fromhex("02 F0 32 03 27")
        + bytes.fromhex("02 00")  # the start of something still on its way
    )
    reassembler = k.reassembler()
    got = feed_all(reassembler, [bytes((b,)) for b in line])
    assert got == [status, unlock, bytes.fromhex("02 F0 32 03 27")]
    assert reassembler.pending == 2
    assert reassembler.stats.bad_frames >= 2
    reassembler.reset()  # a driver's reply timeout forgets the partial frame
    assert reassembler.pending == 0
    assert reassembler.feed(unlock) == [unlock]


def test_cu16_a_flood_of_noise_is_never_buffered() -> None:
    reassembler = k.reassembler()
    for _ in range(100):
        assert reassembler.feed(bytes(range(256))) == []
        assert reassembler.pending < reassembler.max_frame
    assert reassembler.stats.discarded_bytes > 25_000


# ----------------------------------------------------------------------------------- RS485

rs485_boards = st.integers(r.MIN_BOARD, r.MAX_BOARD)
rs485_host_frames = st.one_of(
    st.builds(r.Unlock, rs485_boards, st.integers(0, r.MAX_CHANNELS)),
    st.builds(r.QueryChannel, rs485_boards, st.integers(1, r.MAX_CHANNELS)),
    st.builds(r.QueryAll, rs485_boards),
).map(lambda frame: frame.to_bytes())
rs485_starts = frozenset({r.UNLOCK_HEAD, r.QUERY_HEAD})


def xor_candidate(length_of: Callable[[int], int]) -> Callable[[bytes, int], bytes | None]:
    def candidate(data: bytes, pos: int) -> bytes | None:
        window = data[pos : pos + length_of(data[pos])]
        if len(window) == length_of(data[pos]) and r.check_byte(window) == 0:
            return window
        return None

    return candidate


@settings(deadline=None, max_examples=1000)
@given(segments(rs485_host_frames), chunk_sizes)
def test_rs485_host_side_yields_exactly_the_valid_frames_in_order(
    parts: list[tuple[str, bytes]], sizes: list[int]
) -> None:
    stream = build(parts)
    assume(no_false_frame(stream, rs485_starts, xor_candidate(lambda _head: 5)))
    got = feed_all(r.host_reassembler(), chunked(stream.data, sizes))
    assert got == list(stream.frames)
    for raw in got:
        r.decode_host_frame(raw)


def test_rs485_documented_unlock_one_byte_at_a_time_after_noise() -> None:
    unlock = bytes.fromhex("8A 01 01 11 9B")
    reassembler = r.host_reassembler()
    line = b"\x00\x8a\x55" + unlock + bytes.fromhex("8A 01") + unlock
    assert feed_all(reassembler, [bytes((b,)) for b in line]) == [unlock, unlock]


reply_frames = st.one_of(
    st.builds(r.UnlockReply, rs485_boards, st.integers(1, 50), st.sampled_from(r.Feedback)),
    st.builds(r.ChannelStatus, rs485_boards, st.integers(1, 50), st.sampled_from(r.Feedback)),
).map(lambda frame: frame.to_bytes())


@st.composite
def transactions(draw: st.DrawFn) -> tuple[int, list[tuple[bool, list[tuple[str, bytes]]]]]:
    """A board's status byte count, then per transaction: is it a query-all, and its line."""
    status_bytes = draw(st.integers(2, r.MAX_STATUS_BYTES))
    all_status = st.builds(
        r.AllStatus,
        rs485_boards,
        st.lists(st.booleans(), min_size=8 * status_bytes, max_size=8 * status_bytes).map(tuple),
    ).map(lambda frame: frame.to_bytes())
    done = []
    for _ in range(draw(st.integers(1, 6))):
        query_all = draw(st.booleans())
        reply = all_status if query_all else reply_frames
        line = draw(st.lists(st.binary(min_size=1, max_size=6), max_size=2))
        cut = draw(st.lists(reply.map(lambda f: f[: len(f) - 1]), max_size=1))
        parts = [("garbage", b) for b in line] + [("cut", c) for c in cut]
        done.append((query_all, [*parts, ("frame", draw(reply))]))
    return status_bytes, done


@settings(deadline=None, max_examples=300)
@given(transactions(), chunk_sizes)
def test_rs485_replies_yield_the_reply_the_driver_expects(
    plan: tuple[int, list[tuple[bool, list[tuple[str, bytes]]]]], sizes: list[int]
) -> None:
    status_bytes, steps = plan
    reassembler = r.ReplyReassembler(status_bytes)
    for query_all, parts in steps:
        stream = build(parts)
        long = 4 + status_bytes

        def length_of(head: int, query_all: bool = query_all, long: int = long) -> int:
            return long if head == r.QUERY_HEAD and query_all else 5

        assume(no_false_frame(stream, rs485_starts, xor_candidate(length_of)))
        reassembler.reset()  # what a driver does between transactions
        reassembler.expect_all_status = query_all
        got = feed_all(reassembler, chunked(stream.data, sizes))
        assert got == list(stream.frames)
        reply = r.decode_board_frame(got[0])
        assert isinstance(reply, r.AllStatus) is query_all


def test_rs485_documented_query_all_reply_after_noise_one_byte_at_a_time() -> None:
    reply = bytes.fromhex("80 01 00 00 00 33 B2")
    reassembler = r.ReplyReassembler(status_bytes=3)
    reassembler.expect_all_status = True
    got = feed_all(reassembler, [bytes((b,)) for b in b"\x80\x00" + reply])
    assert got == [reply]
    assert r.decode_board_frame(got[0]) == r.AllStatus(1, (False,) * 24)


# ------------------------------------------------------------- any input: never an exception


def cu16_checked(raw: bytes) -> bool:
    return raw[0] == k.STX and raw[-2] == k.ETX and sum(raw[:-1]) & 0xFF == raw[-1]


def rs485_checked(raw: bytes) -> bool:
    return raw[0] in rs485_starts and r.check_byte(raw) == 0


@pytest.mark.parametrize(
    ("make", "checked"),
    [
        (k.reassembler, cu16_checked),
        (r.host_reassembler, rs485_checked),
        (r.ReplyReassembler, rs485_checked),
        (lambda: r.ReplyReassembler(r.MAX_STATUS_BYTES), rs485_checked),
    ],
    ids=["cu16", "rs485-host", "rs485-reply", "rs485-reply-longest"],
)
@settings(deadline=None, max_examples=1200)
@given(chunks=st.lists(st.binary(max_size=20), max_size=20), flags=st.lists(st.booleans()))
def test_arbitrary_chunks_never_raise_and_yield_only_checked_frames(
    make: Callable[[], FrameReassembler],
    checked: Callable[[bytes], bool],
    chunks: list[bytes],
    flags: list[bool],
) -> None:
    reassembler = make()
    for i, chunk in enumerate(chunks):
        if isinstance(reassembler, r.ReplyReassembler) and flags:
            reassembler.expect_all_status = flags[i % len(flags)]
        for raw in reassembler.feed(chunk):
            assert checked(raw)
        assert reassembler.pending < reassembler.max_frame
