"""GM65-class scan engine set-up commands: the manuals' byte vectors, CRC, reassembly, fuzzing."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols import gm65
from protocols.errors import FrameError
from protocols.gm65 import SetupCommand, SetupReply, SetupType


def hx(text: str) -> bytes:
    return bytes.fromhex(text)


# Literal commands as the engines' manuals and published drivers give them (hardware.md §3a).
DOCUMENTED = [
    ("7E 00 09 01 00 00 00 DE C8", gm65.save()),  # save settings to flash
    ("7E 00 07 01 00 2A 02 D8 0F", gm65.read(0x002A, 2)),  # read the baud rate
    ("7E 00 08 02 00 2A 39 01 A7 EA", gm65.write(0x002A, hx("39 01"))),  # baud 9600
]


@pytest.mark.parametrize(("raw", "command"), DOCUMENTED)
def test_documented_commands_encode_and_decode(raw: str, command: SetupCommand) -> None:
    assert command.to_bytes() == hx(raw)
    assert SetupCommand.from_bytes(hx(raw)) == command


def test_ab_cd_in_place_of_the_crc_is_taken_unchecked() -> None:
    # The manuals' "trigger a scan" command, sent without a CRC.
    raw = hx("7E 00 08 01 00 02 01 AB CD")
    assert gm65.write(0x0002, b"\x01").to_bytes(checked=False) == raw
    assert SetupCommand.from_bytes(raw) == SetupCommand(SetupType.WRITE, 0x0002, b"\x01")


# Engine replies and commands printed in Tasmota's GM861 driver (xsns_107_gm861.ino), seen
# on a real engine: each CRC is ours.
TASMOTA_REPLIES = [
    ("02 00 00 02 39 01 C1 4C", b"\x39\x01"),  # the baud rate read: 9600
    ("02 00 00 01 01 23 10", b"\x01"),  # zone byte 0x60 read
]


@pytest.mark.parametrize(("raw", "data"), TASMOTA_REPLIES)
def test_replies_a_real_engine_sent_decode(raw: str, data: bytes) -> None:
    assert SetupReply.from_bytes(hx(raw)) == SetupReply(data)
    assert SetupReply(data).to_bytes() == hx(raw)


@pytest.mark.parametrize(
    "raw",
    ["7E 00 08 01 00 D9 50 81 D3", "7E 00 08 01 00 D9 55 D1 76", "7E 00 08 01 00 D9 00 DB 26"],
)
def test_tasmota_s_zone_d9_commands_carry_our_crc(raw: str) -> None:
    command = SetupCommand.from_bytes(hx(raw))
    assert command.to_bytes() == hx(raw)


def test_the_documented_write_reply() -> None:
    assert gm65.WRITE_DONE.to_bytes() == hx("02 00 00 01 00 33 31")
    assert SetupReply.from_bytes(hx("02 00 00 01 00 33 31")) == gm65.WRITE_DONE


def test_crc_is_xmodem_over_type_to_data() -> None:
    assert gm65.crc16(hx("09 01 00 00 00")) == 0xDEC8
    assert gm65.crc16(b"123456789") == 0x31C3  # the CRC-16/XMODEM check value


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("7E 00 09 01 00 00 00 DE C9", "CRC"),
        ("7E 01 09 01 00 00 00 DE C8", "7E 00"),
        ("7E 00 0A 01 00 00 00 AB CD", "type"),
        ("7E 00 07 02 00 2A 02 01 AB CD", "count"),
        ("7E 00 09 01 00 00", "7E 00"),
        ("7E 00 09 02 00 00 00 AB CD", "must be"),
        ("7E 00 07 01 00 00 00 AB CD", "not 0"),  # a read of no bytes: no reply could say it
    ],
)
def test_bad_commands_raise_frame_error_with_their_bytes(raw: str, why: str) -> None:
    with pytest.raises(FrameError, match=why) as caught:
        SetupCommand.from_bytes(hx(raw))
    assert caught.value.data == hx(raw)


def test_bad_replies_raise_frame_error() -> None:
    for raw in ("02 00 00 01 00 33 30", "02 00 01 01 00 AB CD", "02 01 00 01 00 33 31"):
        with pytest.raises(FrameError):
            SetupReply.from_bytes(hx(raw))


def test_out_of_range_commands_are_refused_before_sending() -> None:
    with pytest.raises(ValueError, match="16 bits"):
        gm65.write(0x10000, b"\x00")
    with pytest.raises(ValueError, match="1-255"):
        gm65.read(0x0000, 0)
    with pytest.raises(ValueError, match="1-255"):
        SetupReply(b"").to_bytes()
    with pytest.raises(ValueError, match="1-255"):
        SetupCommand(SetupType.READ, 0x0000, b"\x00")


def test_reassembly_one_byte_at_a_time_through_noise() -> None:
    stream = (
        hx("00 7E 7E 01 FF")
        + hx("7E 00 09 01 00 00 00 DE C8")
        + hx("7E 00 09 01 00 00 00 DE C9")  # a bad CRC: dropped, counted
        + hx("55 7E 00 08 01 00 02 01 AB CD")
    )
    reassembler = gm65.command_reassembler()
    frames = [f for b in stream for f in reassembler.feed(bytes((b,)))]
    assert frames == [hx("7E 00 09 01 00 00 00 DE C8"), hx("7E 00 08 01 00 02 01 AB CD")]
    assert reassembler.stats.bad_frames == 1


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_decode_or_raise_frame_error(data: bytes) -> None:
    # The invariant: a valid message or the package's parse error, never another exception.
    for decode in (SetupCommand.from_bytes, SetupReply.from_bytes):
        with contextlib.suppress(FrameError):
            decode(data)
    for frame in gm65.command_reassembler().feed(data):
        SetupCommand.from_bytes(frame)  # what the reassembler lets through decodes


@given(
    st.sampled_from(list(SetupType)),
    st.integers(0, 0xFFFF),
    st.binary(min_size=1, max_size=gm65.MAX_DATA),
    st.booleans(),
)
def test_round_trip(kind: SetupType, address: int, data: bytes, checked: bool) -> None:
    if kind is SetupType.READ:
        data = bytes((data[0] or 1,))  # how many zone bytes: 1-255
    command = SetupCommand(kind, address, data)
    assert SetupCommand.from_bytes(command.to_bytes(checked)) == command
    assert SetupReply.from_bytes(SetupReply(data).to_bytes()) == SetupReply(data)
