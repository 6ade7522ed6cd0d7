"""Set-up commands of GM65-class scan engines (Grow GM60/GM65/GM805/GM812 and alike).

hardware.md §3a. Settings live in one-byte "zone bits" at 16-bit addresses. The host reads,
writes or saves them with a binary command; the engine answers each good one:

    command  7E 00 | TYPE | LENS | ADDR_HI ADDR_LO | DATA (LENS bytes) | CRC_HI CRC_LO
    reply    02 00 | 00   | LENS | DATA (LENS bytes)                   | CRC_HI CRC_LO

TYPE 0x07 reads LENS=1 byte DATA = how many zone bytes to read from ADDR; 0x08 writes DATA to
ADDR on; 0x09 saves the zone bits to flash (ADDR 0000, DATA 00). CRC is CRC-16/XMODEM
(CRC-CCITT, polynomial 0x1021, initial 0) over TYPE..DATA, high byte first; a command may
carry AB CD instead, which the engine takes as "no check". A write is answered with one
data byte 00: `02 00 00 01 00 33 31`.
"""

from __future__ import annotations

import binascii
import enum
from dataclasses import dataclass

from protocols.errors import FrameError
from protocols.reassembly import FrameReassembler

COMMAND_HEAD = b"\x7e\x00"
REPLY_HEAD = b"\x02\x00"
NO_CRC = b"\xab\xcd"  # in place of the CRC: the engine does not check the command
REPLY_OK = 0x00  # the reply's TYPE byte for a command carried out
MAX_DATA = 0xFF  # LENS is one byte
_COMMAND_OVERHEAD = 8  # head 2, type, lens, address 2, crc 2
_REPLY_OVERHEAD = 6  # head 2, type, lens, crc 2
MAX_COMMAND_LENGTH = _COMMAND_OVERHEAD + MAX_DATA


class SetupType(enum.IntEnum):
    """A command's TYPE byte."""

    READ = 0x07
    WRITE = 0x08
    SAVE = 0x09


def crc16(data: bytes) -> int:
    """CRC-16/XMODEM of `data` (as the engines' manuals give it)."""
    return binascii.crc_hqx(data, 0)


def _with_crc(body: bytes) -> bytes:
    return body + crc16(body).to_bytes(2, "big")


def _framed(raw: bytes, head: bytes, overhead: int, what: str) -> bytes:
    """`raw` as bytes if it starts with `head` and is as long as its LENS (byte 3) and the
    `overhead` say; FrameError naming `what` ("command", "reply") otherwise."""
    raw = bytes(raw)
    if len(raw) < overhead + 1 or raw[:2] != head:
        raise FrameError(f"not a GM65 set-up {what} ({head.hex(' ').upper()} ...)", raw)
    if len(raw) != overhead + raw[3]:
        raise FrameError(f"GM65 {what} with LENS {raw[3]} must be {overhead + raw[3]} bytes", raw)
    return raw


@dataclass(frozen=True)
class SetupCommand:
    """One host-to-engine set-up command. `data` for READ is one byte: how many to read."""

    type: SetupType
    address: int
    data: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.address <= 0xFFFF:
            raise ValueError(f"zone address {self.address} is not 16 bits")
        if not 1 <= len(self.data) <= MAX_DATA:
            raise ValueError(f"a set-up command carries 1-{MAX_DATA} data bytes")
        if self.type is SetupType.READ and (len(self.data) != 1 or not self.data[0]):
            raise ValueError("a read carries one data byte: how many zone bytes, 1-255")

    def to_bytes(self, checked: bool = True) -> bytes:
        """The command's bytes; `checked=False` sends AB CD in place of the CRC."""
        body = bytes((self.type, len(self.data))) + self.address.to_bytes(2, "big") + self.data
        return COMMAND_HEAD + (_with_crc(body) if checked else body + NO_CRC)

    @classmethod
    def from_bytes(cls, raw: bytes) -> SetupCommand:
        """Decode one whole command; FrameError (carrying the bytes) for any fault."""
        raw = _framed(raw, COMMAND_HEAD, _COMMAND_OVERHEAD, "command")
        if raw[-2:] != NO_CRC and crc16(raw[2:-2]) != int.from_bytes(raw[-2:], "big"):
            raise FrameError(f"GM65 command CRC should be {crc16(raw[2:-2]):04X}", raw)
        try:
            kind = SetupType(raw[2])
        except ValueError:
            raise FrameError(f"unknown GM65 command type 0x{raw[2]:02X}", raw) from None
        if kind is SetupType.READ and raw[3] != 1:
            raise FrameError("a GM65 read carries one data byte (the count)", raw)
        if kind is SetupType.READ and raw[6] == 0:
            # No reply could carry none (a reply's LENS is 1-255): nothing to answer.
            raise FrameError("a GM65 read asks for 1-255 zone bytes, not 0", raw)
        return cls(kind, int.from_bytes(raw[4:6], "big"), raw[6:-2])


def read(address: int, count: int = 1) -> SetupCommand:
    """0x07: read `count` zone bytes from `address`."""
    if not 1 <= count <= MAX_DATA:
        raise ValueError(f"a read asks for 1-{MAX_DATA} zone bytes")
    return SetupCommand(SetupType.READ, address, bytes((count,)))


def write(address: int, data: bytes) -> SetupCommand:
    """0x08: write `data` to the zone bytes from `address` on."""
    return SetupCommand(SetupType.WRITE, address, bytes(data))


def save() -> SetupCommand:
    """0x09: keep the zone bits through a power cycle."""
    return SetupCommand(SetupType.SAVE, 0x0000, b"\x00")


@dataclass(frozen=True)
class SetupReply:
    """The engine's answer to a good command: the zone bytes read, or 00 for a write/save."""

    data: bytes

    def to_bytes(self) -> bytes:
        if not 1 <= len(self.data) <= MAX_DATA:
            raise ValueError(f"a set-up reply carries 1-{MAX_DATA} data bytes")
        return REPLY_HEAD + _with_crc(bytes((REPLY_OK, len(self.data))) + self.data)

    @classmethod
    def from_bytes(cls, raw: bytes) -> SetupReply:
        raw = _framed(raw, REPLY_HEAD, _REPLY_OVERHEAD, "reply")
        if raw[2] != REPLY_OK:
            raise FrameError(f"GM65 reply type 0x{raw[2]:02X} is not success", raw)
        if crc16(raw[2:-2]) != int.from_bytes(raw[-2:], "big"):
            raise FrameError(f"GM65 reply CRC should be {crc16(raw[2:-2]):04X}", raw)
        return cls(raw[4:-2])


WRITE_DONE = SetupReply(b"\x00")  # what every accepted write or save is answered with


def _measure(buffer: bytes) -> int | None:
    if len(buffer) < 2:
        return None
    if buffer[1] != COMMAND_HEAD[1]:
        return 0
    if len(buffer) < 4:
        return None
    return _COMMAND_OVERHEAD + buffer[3] if buffer[3] else 0


def _check(frame: bytes) -> bool:
    # Whole frames that pass are commands the engine carries out: a good CRC on an unknown
    # type is as useless to it as a bad CRC.
    try:
        SetupCommand.from_bytes(frame)
    except FrameError:
        return False
    return True


def command_reassembler() -> FrameReassembler:
    """A stream reassembler for host-to-engine set-up commands (what an engine hears)."""
    return FrameReassembler(frozenset(COMMAND_HEAD[:1]), _measure, _check, MAX_COMMAND_LENGTH)
