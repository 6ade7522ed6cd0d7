"""The zone bits of a simulated GM65-class scan engine (hardware.md §3a).

The engine keeps its settings as bytes at 16-bit "zone" addresses; the host reads, writes
and saves them with the binary commands of protocols.gm65. The few zone bytes the
simulator acts on are named below with their source; every other byte in the table is
stored and read back, without effect.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from protocols import gm65

ZONE_SIZE = 0x100  # the addresses the manuals list fit one byte; beyond them: no reply
# 0x0000 bits 1-0: how the engine reads (manual 00, command-triggered 01, continuous 10,
# induction 11: GM805/GM65 drivers citing the manual).
MODE_ADDRESS = 0x0000
MODE_MASK = 0b11
# 0x0002 bit 0: the host's trigger in command mode; the engine clears it after a read.
TRIGGER_ADDRESS = 0x0002
# 0x002A-0x002B: the baud rate; 39 01 is 9600 (the manuals' "set baud to 9600" command).
BAUD_ADDRESS = 0x002A
BAUD_9600 = b"\x39\x01"
# 0x00D0: AIM id before each code, 0x80 on, 0x00 off (GM812 manual).
AIM_ADDRESS = 0x00D0
AIM_ON = 0x80
# 0x00D9: writing 0x55 restores the factory settings (GM60 driver; Tasmota's GM861 table
# says "restore user-defined factory settings") and 0x50 resets the zone bytes to their
# defaults (Tasmota's table). The simulator keeps no user-defined set: both restore its
# factory table.
RESET_ADDRESS = 0x00D9
RESET_VALUES = frozenset((0x50, 0x55))
# 0x00E1-0x00E5: hardware version, software version, year-2000, month, day (read-only).
VERSION_ADDRESS = 0x00E1
SIM_VERSION = bytes((100, 100, 26, 1, 1))  # the simulator's own: "1.00", "1.00", 2026-01-01


class EngineMode(enum.IntEnum):
    MANUAL = 0b00
    COMMAND = 0b01
    CONTINUOUS = 0b10
    INDUCTION = 0b11


@dataclass
class ZoneEffects:
    """What a scanner does when the host changes these bytes."""

    on_mode: Callable[[EngineMode], None]
    on_trigger: Callable[[], None]
    on_aim: Callable[[bool], None]


class ZoneBits:
    """The engine's table of settings, and its answer to each set-up command."""

    def __init__(self, mode: EngineMode, aim: bool, effects: ZoneEffects) -> None:
        self._effects = effects
        self._factory = bytearray(ZONE_SIZE)
        self._factory[MODE_ADDRESS] = mode
        self._factory[BAUD_ADDRESS : BAUD_ADDRESS + 2] = BAUD_9600
        self._factory[AIM_ADDRESS] = AIM_ON if aim else 0
        self._factory[VERSION_ADDRESS : VERSION_ADDRESS + len(SIM_VERSION)] = SIM_VERSION
        self.table = bytearray(self._factory)
        self.saved = bytes(self.table)

    def answer(self, command: gm65.SetupCommand) -> bytes | None:
        """The reply to one command, None where the engine stays silent (out of its table)."""
        if command.type is gm65.SetupType.SAVE:
            self.saved = bytes(self.table)
            return gm65.WRITE_DONE.to_bytes()
        count = command.data[0] if command.type is gm65.SetupType.READ else len(command.data)
        if command.address + count > ZONE_SIZE:
            return None
        if command.type is gm65.SetupType.READ:
            start = command.address
            return gm65.SetupReply(bytes(self.table[start : start + count])).to_bytes()
        for offset, value in enumerate(command.data):
            self._write(command.address + offset, value)
        return gm65.WRITE_DONE.to_bytes()

    def clear_trigger(self) -> None:
        """After a read (or a timeout) the engine clears the host's trigger bit itself."""
        self.table[TRIGGER_ADDRESS] &= ~1 & 0xFF

    def _write(self, address: int, value: int) -> None:
        if VERSION_ADDRESS <= address < VERSION_ADDRESS + len(SIM_VERSION):
            return  # read-only: the engine's own identity
        if address == RESET_ADDRESS and value in RESET_VALUES:
            self.table[:] = self._factory
            self._effects.on_mode(EngineMode(self.table[MODE_ADDRESS] & MODE_MASK))
            self._effects.on_aim(self.table[AIM_ADDRESS] == AIM_ON)
            return
        self.table[address] = value
        if address == MODE_ADDRESS:
            self._effects.on_mode(EngineMode(value & MODE_MASK))
        elif address == AIM_ADDRESS:
            self._effects.on_aim(value == AIM_ON)
        elif address == TRIGGER_ADDRESS and value & 1:
            self._effects.on_trigger()
