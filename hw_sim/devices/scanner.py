"""A simulated serial QR/barcode scanner (hardware.md §3).

Presentation mode: a code held in front of it is decoded and sent unsolicited as
prefix + [AIM id] + text + suffix (protocols.scanner.encode_scan). Host-triggered mode
(Honeywell): `SYN T CR` starts a scan, `SYN U CR` stops it; a code is read only while a scan
is on, and a good read ends the scan. Menu commands `SYN M CR` + tag + subtag + data + `!`/`.`
are echoed with ACK (06), ENQ (05, unknown tag/subtag) or NAK (15, bad value) inserted
before each punctuation mark, as the Honeywell manuals describe. Known settings: TRGMOD
(0 = host-triggered, 3 = presentation) and BEPLVL (beeper level 0-3); `?` as data queries.
"""

from __future__ import annotations

import enum
import random
import re
from dataclasses import dataclass, field

from hw_sim.devices.reply_schedule import ReplySchedule, RxLine
from protocols.scanner import (
    ACK,
    ENQ,
    MENU_PREFIX,
    NAK,
    TRIGGER_OFF,
    TRIGGER_ON,
    ScannerFraming,
    Suffix,
    encode_scan,
)

# hardware.md §3: 9600 and 115200 are common; 9600 is the usual factory setting.
BAUD_RATE = 9600
# Assumptions (no source gives them): a kiosk engine decodes a shown QR in tens of ms; a
# person holds a code up for a few seconds; a host-triggered scan gives up after a while.
DECODE_TIME_S = 0.05
CODE_IN_VIEW_S = 3.0
TRIGGER_TIMEOUT_S = 30.0
MENU_REPLY_LATENCY_S = 0.01
MAX_MENU_COMMAND = 256  # longer without a "!"/"." is noise, thrown away
QR_SYMBOLOGY = "]Q1"
SYN = 0x16
_STORAGE = b"!."
# Garbage starts with UTF-8 continuation bytes so that it can never decode as text.
_GARBAGE_BYTES = range(0x80, 0xC0)


class ScanMode(enum.StrEnum):
    PRESENTATION = "presentation"
    HOST_TRIGGERED = "host_triggered"


_TRGMOD = {"0": ScanMode.HOST_TRIGGERED, "3": ScanMode.PRESENTATION}
_BEEPER_LEVELS = frozenset("0123")


@dataclass(frozen=True)
class ScannerOptions:
    framing: ScannerFraming = field(default_factory=ScannerFraming)
    send_aim_id: bool = False
    mode: ScanMode = ScanMode.PRESENTATION
    baud: int = BAUD_RATE
    decode_time_s: float = DECODE_TIME_S


class Scanner:
    """One scanner. People call `present`; the host writes triggers and menu commands."""

    def __init__(self, options: ScannerOptions | None = None, seed: int = 0) -> None:
        self.options = options or ScannerOptions()
        self.mode = self.options.mode
        self.beeper_level = "1"
        self.replies = ReplySchedule()
        self.garbage_bytes = 0  # the garbage fault: every read comes out as this much noise
        # Field faults: the line end the scanner really sends whatever the site was told
        # (None: as configured), and AIM ids sent although never configured.
        self.line_end: Suffix | None = None
        self.aim_ids = False
        self.codes_sent = 0
        self._rx = RxLine(self.options.baud)
        self._buffer = bytearray()
        self._rng = random.Random(seed)  # noqa: S311 - seeded for replay, not secrecy
        self._triggered_until = float("-inf")
        self._in_view: tuple[str, str | None, float] | None = None

    @property
    def baud(self) -> int:
        return self.options.baud

    def present(self, code: str, at: float, symbology: str | None = QR_SYMBOLOGY) -> None:
        """A person holds `code` up to the scanner at `at`."""
        if self.mode is ScanMode.HOST_TRIGGERED and at >= self._triggered_until:
            self._in_view = (code, symbology, at + CODE_IN_VIEW_S)
            return
        self._decode(code, symbology, at)

    def spew_garbage(self, at: float) -> None:
        """One misread: noise, then the suffix, as a scanner with a dirty window sends."""
        count = self.garbage_bytes or 1
        noise = bytes(self._rng.choice(_GARBAGE_BYTES) for _ in range(count))
        self.replies.send(at, noise + self._suffix().value.encode())

    def _suffix(self) -> Suffix:
        return self.line_end or self.options.framing.suffix

    def _decode(self, code: str, symbology: str | None, at: float) -> None:
        self._triggered_until = float("-inf")  # a good read ends a triggered scan
        self._in_view = None
        done = at + self.options.decode_time_s
        if self.garbage_bytes:
            self.spew_garbage(done)
            return
        framing = self.options.framing
        aim = symbology if (self.options.send_aim_id or self.aim_ids) else None
        # encode_scan writes the AIM id only when the framing says one is sent.
        sent_framing = ScannerFraming(self._suffix(), framing.prefix, aim is not None)
        self.replies.send(done, encode_scan(code, sent_framing, aim))
        self.codes_sent += 1

    def receive(self, data: bytes, seen_at: float) -> None:
        ends = self._rx.byte_end_times(len(data), seen_at)
        for byte, end in zip(data, ends, strict=True):
            self._buffer.append(byte)
            self._parse(end)

    def _parse(self, at: float) -> None:
        buf = self._buffer
        while buf:
            if buf[0] != SYN:
                del buf[0]  # not the start of a command: line noise
                continue
            if len(buf) < len(TRIGGER_ON):
                return
            head = bytes(buf[:3])
            if head == TRIGGER_ON:
                del buf[:3]
                self._trigger(at)
            elif head == TRIGGER_OFF:
                del buf[:3]
                self._triggered_until = float("-inf")
            elif head == MENU_PREFIX:
                end = next((i for i, b in enumerate(buf[3:], 3) if b in _STORAGE), None)
                if end is None:
                    if len(buf) > MAX_MENU_COMMAND:
                        del buf[0]
                        continue
                    return
                body, storage = bytes(buf[3:end]), buf[end]
                del buf[: end + 1]
                reply = self._menu(body) + bytes((storage,))
                self.replies.send(at + MENU_REPLY_LATENCY_S, reply)
            else:
                del buf[0]

    def _trigger(self, at: float) -> None:
        if self.mode is not ScanMode.HOST_TRIGGERED:
            return
        self._triggered_until = at + TRIGGER_TIMEOUT_S
        if self._in_view is not None and self._in_view[2] > at:
            code, symbology, _ = self._in_view
            self._decode(code, symbology, at)

    def _menu(self, body: bytes) -> bytes:
        """Apply each tag/subtag/data of a menu command; the echo with status characters.

        "," repeats the previous tag with a new subtag; ";" starts a new tag.
        """
        parts = re.split(rb"([,;])", body)
        out = bytearray()
        tag = b""
        for index in range(0, len(parts), 2):
            piece = parts[index]
            if tag:
                head, rest = b"", piece
            else:
                head, rest = piece[:3], piece[3:]
                tag = head
            status, echo = self._setting(tag, rest)
            out += head + (rest if echo is None else echo) + bytes((status,))
            if index + 1 < len(parts):
                separator = parts[index + 1]
                out += separator
                if separator == b";":
                    tag = b""
        return bytes(out)

    def _setting(self, tag: bytes, rest: bytes) -> tuple[int, bytes | None]:
        """Status byte for one setting, and the data to echo when it was a query."""
        name = (tag + rest[:3]).decode("ascii", "replace").upper()
        data = rest[3:].decode("ascii", "replace")
        if name == "TRGMOD":
            current = next(k for k, v in _TRGMOD.items() if v is self.mode)
            allowed: frozenset[str] = frozenset(_TRGMOD)
        elif name == "BEPLVL":
            current, allowed = self.beeper_level, _BEEPER_LEVELS
        else:
            return ENQ, None
        if data == "?":
            return ACK, rest[:3] + current.encode()
        if data not in allowed:
            return NAK, None
        if name == "TRGMOD":
            self.mode = _TRGMOD[data]
            self._triggered_until = float("-inf")
        else:
            self.beeper_level = data
        return ACK, None
