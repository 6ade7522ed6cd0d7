"""A simulated serial QR/barcode scanner (hardware.md §3).

Presentation mode: a code held in front of it is decoded and sent unsolicited as
prefix + [AIM id] + text + suffix (protocols.scanner.encode_scan). Host-triggered mode: the
host starts a scan; a code is read only while a scan is on, and a good read ends the scan.

The host's set-up commands are those of the scanner's model (an option):
- Honeywell (default): `SYN T CR` starts a scan, `SYN U CR` stops it; menu commands
  `SYN M CR` ... `!`/`.` are echoed with ACK/ENQ/NAK (hw_sim.devices.honeywell_menu).
  Known settings: TRGMOD (0 host-triggered, 3 presentation), BEPLVL (beeper 0-3) and the
  REVINF report; `?`, `^` and `*` query them. Any other Tag/SubTag is answered ENQ.
- GM65-class engine: binary `7E 00` commands read, write and save zone bits and are
  answered `02 00 00 ...` (protocols.gm65, hw_sim.devices.gm65_zones); writing bit 0 of
  zone 0x0002 triggers a scan in command mode.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass, field

from hw_sim.devices.gm65_zones import EngineMode, ZoneBits, ZoneEffects
from hw_sim.devices.honeywell_menu import MenuSetting, answer_menu
from hw_sim.devices.reply_schedule import ReplySchedule, RxLine
from protocols import gm65
from protocols.scanner import (
    MENU_PREFIX,
    MENU_STORAGE,
    SYN,
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
# What REVINF reports: the simulator's own identity (a real scanner names its product,
# software and serial number). No punctuation mark: a host reads those as the echo's end.
REVISION_REPORT = "Product Name: lockernet hw_sim scanner\r\nSoftware Revision: hw_sim 1"
# Garbage starts with UTF-8 continuation bytes so that it can never decode as text.
_GARBAGE_BYTES = range(0x80, 0xC0)


class ScanMode(enum.StrEnum):
    PRESENTATION = "presentation"
    HOST_TRIGGERED = "host_triggered"


class ScannerModel(enum.StrEnum):
    """Whose set-up commands the scanner speaks."""

    HONEYWELL = "honeywell"
    GM65 = "gm65"


_TRGMOD = {"0": ScanMode.HOST_TRIGGERED, "3": ScanMode.PRESENTATION}
_BEEPER_LEVELS = frozenset("0123")
DEFAULT_BEEPER_LEVEL = "1"
# A GM65-class engine in manual mode reads on its own button, which a kiosk does not
# press: the simulator lets the host's trigger bit start a scan then too.
_ENGINE_MODES = {
    EngineMode.MANUAL: ScanMode.HOST_TRIGGERED,
    EngineMode.COMMAND: ScanMode.HOST_TRIGGERED,
    EngineMode.CONTINUOUS: ScanMode.PRESENTATION,
    EngineMode.INDUCTION: ScanMode.PRESENTATION,
}


@dataclass(frozen=True)
class ScannerOptions:
    framing: ScannerFraming = field(default_factory=ScannerFraming)
    send_aim_id: bool = False
    mode: ScanMode = ScanMode.PRESENTATION
    baud: int = BAUD_RATE
    decode_time_s: float = DECODE_TIME_S
    model: ScannerModel = ScannerModel.HONEYWELL


class Scanner:
    """One scanner. People call `present`; the host writes triggers and menu commands."""

    def __init__(self, options: ScannerOptions | None = None, seed: int = 0) -> None:
        self.options = options or ScannerOptions()
        self.mode = self.options.mode
        self.beeper_level = DEFAULT_BEEPER_LEVEL
        self.replies = ReplySchedule()
        self.menu = self._menu_settings()
        engine_mode = (
            EngineMode.COMMAND
            if self.options.mode is ScanMode.HOST_TRIGGERED
            else EngineMode.INDUCTION
        )
        effects = ZoneEffects(self._set_engine_mode, self._engine_trigger, self._set_aim)
        self.zones = ZoneBits(engine_mode, self.options.send_aim_id, effects)
        self._commands = gm65.command_reassembler()
        self._send_aim_id = self.options.send_aim_id
        self._pending_trigger = False
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
        aim = symbology if (self._send_aim_id or self.aim_ids) else None
        # encode_scan writes the AIM id only when the framing says one is sent.
        sent_framing = ScannerFraming(self._suffix(), framing.prefix, aim is not None)
        self.replies.send(done, encode_scan(code, sent_framing, aim))
        self.codes_sent += 1
        self.zones.clear_trigger()

    def receive(self, data: bytes, seen_at: float) -> None:
        ends = self._rx.byte_end_times(len(data), seen_at)
        for byte, end in zip(data, ends, strict=True):
            if self.options.model is ScannerModel.GM65:
                for raw in self._commands.feed(bytes((byte,))):
                    self._setup(gm65.SetupCommand.from_bytes(raw), end)
                continue
            self._buffer.append(byte)
            self._parse(end)

    def _setup(self, command: gm65.SetupCommand, at: float) -> None:
        reply = self.zones.answer(command)
        if reply is not None:
            self.replies.send(at + MENU_REPLY_LATENCY_S, reply)
        if command.type is gm65.SetupType.WRITE and self._pending_trigger:
            self._pending_trigger = False
            self._trigger(at)  # after the reply is queued: a code in view follows it

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
                end = next((i for i, b in enumerate(buf[3:], 3) if b in MENU_STORAGE), None)
                if end is None:
                    if len(buf) > MAX_MENU_COMMAND:
                        del buf[0]
                        continue
                    return
                body, storage = bytes(buf[3:end]), buf[end]
                del buf[: end + 1]
                reply = answer_menu(body, self.menu) + bytes((storage,))
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

    def _set_mode(self, mode: ScanMode) -> None:
        self.mode = mode
        self._triggered_until = float("-inf")

    def _set_engine_mode(self, mode: EngineMode) -> None:
        self._set_mode(_ENGINE_MODES[mode])

    def _engine_trigger(self) -> None:
        self._pending_trigger = True  # acted on once the write's reply is queued

    def _set_aim(self, on: bool) -> None:
        self._send_aim_id = on

    def _set_beeper(self, level: str) -> None:
        self.beeper_level = level

    def _menu_settings(self) -> dict[str, MenuSetting]:
        """The Honeywell Tag+SubTags this scanner knows, with their defaults and ranges."""
        trgmod = next(k for k, v in _TRGMOD.items() if v is self.options.mode)
        return {
            "TRGMOD": MenuSetting(
                trgmod,
                "|".join(sorted(_TRGMOD)),
                lambda: next(k for k, v in _TRGMOD.items() if v is self.mode),
                lambda value: self._set_mode(_TRGMOD[value]),
                frozenset(_TRGMOD),
            ),
            "BEPLVL": MenuSetting(
                DEFAULT_BEEPER_LEVEL,
                f"{min(_BEEPER_LEVELS)}-{max(_BEEPER_LEVELS)}",
                lambda: self.beeper_level,
                self._set_beeper,
                _BEEPER_LEVELS,
            ),
            "REVINF": MenuSetting(REVISION_REPORT, "", lambda: REVISION_REPORT),
        }
