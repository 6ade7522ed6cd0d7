"""The framing the Kerong boards share (CU16, hardware.md §1; CU48, hardware.md §6).

A Kerong frame starts with STX 0x02 and ends with SUM, the low byte of the sum of every byte
before it; the frames that carry an ETX 0x03 carry it just before SUM. What lies between,
and how long a frame is, each family's codec says.
"""

from __future__ import annotations

from protocols.errors import FrameError
from protocols.reassembly import Check, FrameReassembler, Measure

STX = 0x02
ETX = 0x03


def checksum(data: bytes) -> int:
    """The low byte of the sum of `data`."""
    return sum(data) & 0xFF


def sealed(body: bytes) -> bytes:
    """`body` (STX .. last byte before SUM) with its SUM appended."""
    return body + bytes((checksum(body),))


def ends_well(frame: bytes) -> bool:
    """True if `frame` ends ETX SUM with a SUM that matches."""
    return frame[-2] == ETX and checksum(frame[:-1]) == frame[-1]


def check_start(raw: bytes, family: str, min_length: int) -> None:
    """FrameError naming `family` ("CU16") unless `raw` is `min_length` bytes or more from STX."""
    if len(raw) < min_length:
        raise FrameError(f"{family} frame shorter than {min_length} bytes", raw)
    if raw[0] != STX:
        raise FrameError(f"{family} frame does not start with STX 0x02", raw)


def check_sum(raw: bytes, family: str) -> None:
    """FrameError naming `family` unless `raw`'s last byte is the SUM of the others."""
    if checksum(raw[:-1]) != raw[-1]:
        raise FrameError(
            f"{family} checksum 0x{raw[-1]:02X} should be 0x{checksum(raw[:-1]):02X}", raw
        )


def reassembler(measure: Measure, check: Check, max_frame: int) -> FrameReassembler:
    """A stream reassembler of frames that start with STX, measured and checked by the family."""
    return FrameReassembler(frozenset((STX,)), measure, check, max_frame)
