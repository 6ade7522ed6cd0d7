"""Serial barcode/QR scanner framing (hardware.md §3).

A scanner in presentation mode sends each decoded code as its text, then a configurable
suffix; an optional prefix and an optional AIM symbology identifier (`]` + code letter +
modifier) may come first.

In the field the configured framing and the scanner's real one often disagree (hardware.md
§3), so the settings say what the scanner is *meant* to send, and reading is lenient where
that costs nothing: CR, LF and CR LF each end a line whatever the suffix setting (an empty
line, as between a CR and its LF, is not a scan); an AIM identifier at the start of a line is
recognised and removed whether or not it was configured (no lockernet code begins with `]`);
a configured prefix is removed when present and not required.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

# Host-triggered mode (Honeywell): SYN T CR starts a scan, SYN U CR stops it.
SYN = 0x16
TRIGGER_ON = b"\x16T\r"
TRIGGER_OFF = b"\x16U\r"
# Honeywell menu commands (hardware.md §3): SYN M CR + Tag SubTag Data [, SubTag Data]
# [; Tag SubTag Data] + storage. "!" applies to the RAM table, "." to the flash one.
MENU_PREFIX = b"\x16M\r"
MENU_STORE_RAM, MENU_STORE_FLASH = "!", "."
MENU_STORAGE = frozenset(b"!.")
# In place of Data (or a SubTag, or a Tag): the current value, the default, the range.
MENU_QUERY_CURRENT, MENU_QUERY_DEFAULT, MENU_QUERY_RANGE = "?", "^", "*"
MENU_QUERIES = frozenset((MENU_QUERY_CURRENT, MENU_QUERY_DEFAULT, MENU_QUERY_RANGE))
# The status the scanner puts before each punctuation mark of its echo: done, unknown
# Tag/SubTag, value out of range.
ACK, ENQ, NAK = 0x06, 0x05, 0x15
# Longest decoded text we accept. Our pickup codes are ~170 characters; labels far less.
DEFAULT_MAX_LENGTH = 512
# `]` + code letter + modifier: "]Q1" QR, "]C0" Code 128 (ISO/IEC 15424). No lockernet code
# (pickup code or badge, protocols.tokens' prefixes; S10 or platform label) begins with "]".
_AIM_ID = re.compile(r"\][A-Za-z][0-9A-Za-z]")
_AIM_ID_LENGTH = 3
_MAX_UTF8_BYTES = 4  # per character: the length cap counts characters, the buffer bytes
_PRINTABLE = re.compile(r"[\x20-\x7e\u00a0-\uffff]+")
_LINE_ENDS = frozenset(b"\r\n")  # either ends a line, whatever the configured suffix


class Suffix(enum.StrEnum):
    CR = "\r"
    CRLF = "\r\n"
    LF = "\n"


@dataclass(frozen=True)
class ScannerFraming:
    """How a scanner is configured to frame what it decodes."""

    # What the scanner is set to send. Reading accepts any line end and removes an AIM id
    # either way (module docstring); these say what `encode_scan` writes.
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
    # Unreadable (garbage or over-long) lines since the last good code: a run that persists
    # means a dirty window or a framing mismatch, not one misread.
    unreadable_run: int = 0


@dataclass
class ScanLineSplitter:
    """Turns chunks of scanner output into codes; garbage and over-long lines are counted."""

    framing: ScannerFraming = field(default_factory=ScannerFraming)
    stats: ScannerStats = field(default_factory=ScannerStats)

    def __post_init__(self) -> None:
        self._buffer = bytearray()
        self._overflowing = False  # inside a line already known to be too long

    def reset(self) -> None:
        """Forget a partial line, as after the scanner was unplugged."""
        self._buffer.clear()
        self._overflowing = False

    def feed(self, chunk: bytes) -> list[ScannedCode]:
        """The codes completed by `chunk`, in order; unreadable lines are only counted."""
        self._buffer += chunk
        codes: list[ScannedCode] = []
        # The most bytes a line that still holds a valid code can have before its end: so a
        # code's fate never depends on how the bytes were chunked.
        limit = (
            _MAX_UTF8_BYTES * self.framing.max_length
            + len(self.framing.prefix.encode())
            + _AIM_ID_LENGTH
        )
        while True:
            end = next((i for i, b in enumerate(self._buffer) if b in _LINE_ENDS), -1)
            if end < 0:
                if len(self._buffer) > limit:
                    # No line end in it: all of it belongs to a line already too long.
                    if not self._overflowing:
                        self._unreadable(too_long=True)
                    self._overflowing = True
                    self._buffer.clear()
                return codes
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            if self._overflowing:
                self._overflowing = False
                continue
            if not line:
                continue  # between the CR and LF of a CR LF, or a blank line: not a scan
            code = self._decode(line)
            if code is None:
                self._unreadable(too_long=False)
            elif len(code.text) > self.framing.max_length:
                self._unreadable(too_long=True)
            else:
                self.stats.codes += 1
                self.stats.unreadable_run = 0
                codes.append(code)

    def _unreadable(self, too_long: bool) -> None:
        if too_long:
            self.stats.too_long += 1
        else:
            self.stats.garbage += 1
        self.stats.unreadable_run += 1

    def _decode(self, line: bytes) -> ScannedCode | None:
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            return None
        prefix = self.framing.prefix
        if prefix and text.startswith(prefix):
            text = text[len(prefix) :]
        symbology = None
        if _AIM_ID.match(text):
            symbology, text = text[:_AIM_ID_LENGTH], text[_AIM_ID_LENGTH:]
        if not text or not _PRINTABLE.fullmatch(text):
            return None
        return ScannedCode(text, symbology)


def encode_scan(code: str, framing: ScannerFraming, symbology: str | None = None) -> bytes:
    """What a scanner configured with `framing` sends for `code` (used by the simulator)."""
    aim = symbology if (framing.strip_aim_id and symbology) else ""
    return (framing.prefix + aim + code + framing.suffix.value).encode("utf-8")


def menu_command(settings: str, storage: str = MENU_STORE_RAM) -> bytes:
    """A Honeywell menu command: `SYN M CR` + `settings` (e.g. "TRGMOD0,BEPLVL?") + storage.

    ValueError for a storage character other than "!" or "." or a punctuation mark inside
    `settings` that would end the command early.
    """
    if storage not in (MENU_STORE_RAM, MENU_STORE_FLASH):
        raise ValueError(f"menu storage is '!' (RAM) or '.' (flash), not {storage!r}")
    if any(mark in settings for mark in (MENU_STORE_RAM, MENU_STORE_FLASH)):
        raise ValueError(f"menu settings {settings!r} hold a storage character")
    return MENU_PREFIX + settings.encode("ascii") + storage.encode("ascii")


def menu_statuses(reply: bytes) -> list[int]:
    """The status characters of a menu command's echo, one per setting, in order."""
    return [b for b in reply if b in (ACK, ENQ, NAK)]
