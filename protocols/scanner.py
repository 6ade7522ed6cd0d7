"""Serial barcode/QR scanner framing (hardware.md §3).

A scanner in presentation mode sends each decoded code as its text, then a configurable
suffix; an optional prefix and an optional AIM symbology identifier (`]` + code letter +
modifier) may come first. None of these is assumed: all are settings.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

# Host-triggered mode (Honeywell): SYN T CR starts a scan, SYN U CR stops it.
TRIGGER_ON = b"\x16T\r"
TRIGGER_OFF = b"\x16U\r"
MENU_PREFIX = b"\x16M\r"  # SYN M CR + tag + subtag + data + "!" or "."
ACK, ENQ, NAK = 0x06, 0x05, 0x15
# Longest decoded text we accept. Our pickup codes are ~170 characters; labels far less.
DEFAULT_MAX_LENGTH = 512
_AIM_ID = re.compile(r"\][A-Za-z][0-9A-Za-z]")
_AIM_ID_LENGTH = 3
_MAX_UTF8_BYTES = 4  # per character: the length cap counts characters, the buffer bytes
_PRINTABLE = re.compile(r"[\x20-\x7e\u00a0-\uffff]+")


class Suffix(enum.StrEnum):
    CR = "\r"
    CRLF = "\r\n"
    LF = "\n"


@dataclass(frozen=True)
class ScannerFraming:
    """How a scanner is configured to frame what it decodes."""

    suffix: Suffix = Suffix.CR
    prefix: str = ""
    strip_aim_id: bool = False
    max_length: int = DEFAULT_MAX_LENGTH


@dataclass(frozen=True)
class ScannedCode:
    """One decoded code: its text, and its AIM symbology id (e.g. "]Q1") when one was sent."""

    text: str
    symbology: str | None = None


@dataclass
class ScannerStats:
    """Counters for diagnostics: what arrived and could not be used."""

    codes: int = 0
    too_long: int = 0
    garbage: int = 0


@dataclass
class ScanLineSplitter:
    """Turns chunks of scanner output into codes; garbage and over-long lines are counted."""

    framing: ScannerFraming = field(default_factory=ScannerFraming)
    stats: ScannerStats = field(default_factory=ScannerStats)

    def __post_init__(self) -> None:
        self._suffix = self.framing.suffix.value.encode()
        self._buffer = bytearray()
        self._overflowing = False  # inside a line already known to be too long

    def reset(self) -> None:
        """Forget a partial line, as after the scanner was unplugged."""
        self._buffer.clear()
        self._overflowing = False

    def feed(self, chunk: bytes) -> list[ScannedCode]:
        self._buffer += chunk
        codes: list[ScannedCode] = []
        # The most bytes a line that still holds a valid code can have before its suffix
        # is complete: so a code's fate never depends on how the bytes were chunked.
        limit = (
            _MAX_UTF8_BYTES * self.framing.max_length
            + len(self.framing.prefix.encode())
            + _AIM_ID_LENGTH
            + len(self._suffix)
            - 1
        )
        while True:
            end = self._buffer.find(self._suffix)
            if end < 0:
                if len(self._buffer) > limit:
                    # Keep only what might be the start of the suffix; the rest is lost.
                    if not self._overflowing:
                        self.stats.too_long += 1
                    self._overflowing = True
                    del self._buffer[: len(self._buffer) - len(self._suffix) + 1]
                return codes
            line = bytes(self._buffer[:end])
            del self._buffer[: end + len(self._suffix)]
            if self._overflowing:
                self._overflowing = False
                continue
            if not line:
                continue
            code = self._decode(line)
            if code is None:
                self.stats.garbage += 1
            elif len(code.text) > self.framing.max_length:
                self.stats.too_long += 1
            else:
                self.stats.codes += 1
                codes.append(code)

    def _decode(self, line: bytes) -> ScannedCode | None:
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            return None
        prefix = self.framing.prefix
        if prefix:
            if not text.startswith(prefix):
                return None
            text = text[len(prefix) :]
        symbology = None
        if self.framing.strip_aim_id and _AIM_ID.match(text):
            symbology, text = text[:_AIM_ID_LENGTH], text[_AIM_ID_LENGTH:]
        if not text or not _PRINTABLE.fullmatch(text):
            return None
        return ScannedCode(text, symbology)


def encode_scan(code: str, framing: ScannerFraming, symbology: str | None = None) -> bytes:
    """What a scanner configured with `framing` sends for `code` (used by the simulator)."""
    aim = symbology if (framing.strip_aim_id and symbology) else ""
    return (framing.prefix + aim + code + framing.suffix.value).encode("utf-8")
