"""One site's simulated hardware: a lock-board bus, its compartments and a scanner, served
over ptys or in memory, with faults switched by name.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hw_sim.devices.compartment import Compartment
from hw_sim.devices.families import device_family
from hw_sim.devices.faults import (
    DEFAULT_GARBAGE_BYTES,
    DEFAULT_REREADS,
    REREAD_INTERVAL_S,
    SCOPE,
    FaultKind,
    Scope,
)
from hw_sim.devices.lock_bus import DeviceFamily, SimBoard, SimBus
from hw_sim.devices.memory_transport import MemoryPort
from hw_sim.devices.port import Port
from hw_sim.devices.pty_transport import PtyPort
from hw_sim.devices.scanner import Scanner, ScannerOptions
from hw_sim.errors import ConfigError
from protocols.boards import BoardFamily
from protocols.clock import Clock
from protocols.scanner import Suffix

LABEL_SYMBOLOGY = "]C0"  # Code 128: what shipping labels and badges are printed as
QR_SYMBOLOGY = "]Q1"


@dataclass(frozen=True)
class SiteConfig:
    """One simulated site. `profile` names its lock-board family (a BoardFamily or its name,
    e.g. "cu16"); `board_options` are that family's options (its device module's options
    class, e.g. Cu16Options), None for the family's defaults."""

    profile: BoardFamily = BoardFamily.CU16
    boards: int = 1
    board_options: Any = None
    scanner: ScannerOptions = field(default_factory=ScannerOptions)
    seed: int = 0

    def __post_init__(self) -> None:
        device = device_family(self.profile)
        object.__setattr__(self, "profile", device.facts.family)
        if self.board_options is None:
            object.__setattr__(self, "board_options", device.options())
        elif not isinstance(self.board_options, device.options):
            raise ConfigError(
                f"a {self.profile} site takes {device.options.__name__}, "
                f"not {type(self.board_options).__name__}"
            )
        most = device.facts.max_boards
        if not 1 <= self.boards <= most:
            raise ConfigError(f"a {self.profile} site has 1-{most} boards, not {self.boards}")

    @property
    def device(self) -> DeviceFamily:
        """The simulated family of the site's boards."""
        return device_family(self.profile)

    @property
    def board_ids(self) -> list[int]:
        """The ids of the site's boards: the family's first id and on (CU16 0.., RS485 1..)."""
        first = self.device.first_board
        return list(range(first, first + self.boards))

    def lock_bus_keys(self) -> dict[str, Any]:
        """The `[lock_bus]` keys (family, boards, family options) an edge agent needs to
        drive this site's bus; add `port` and any timing."""
        return self.device.lock_bus_keys(self.board_options, self.board_ids)

    @property
    def locks_per_board(self) -> int:
        return int(self.device.locks_per_board(self.board_options))


@dataclass(frozen=True)
class SitePorts:
    locks: Port
    scanner: Port


class SimulatedSite:
    """The devices of one site. Board ids: CU16 0..N-1 (set on the board), RS485 1..N (DIP)."""

    def __init__(self, clock: Clock, config: SiteConfig | None = None) -> None:
        self.clock = clock
        self.config = config or SiteConfig()
        self.locks: SimBus = self.config.device.make_bus(
            clock, self.config.board_ids, self.config.board_options, self.config.seed
        )
        self.scanner = Scanner(self.config.scanner, self.config.seed + 1)
        self.ports: SitePorts | None = None
        self.adapter_echo = False
        self.rereads = 0  # the presentation re-read fault: re-reads of each code shown
        self._shown = 0  # codes shown so far: a new one takes the last out of view
        self._rereading: set[asyncio.Task[None]] = set()

    # Looking around.

    @property
    def board_ids(self) -> list[int]:
        return list(self.locks.boards)

    def board(self, board: int) -> SimBoard:
        found = self.locks.boards.get(board)
        if found is None:
            raise ConfigError(f"there is no board {board}; boards are {self.board_ids}")
        return found

    def compartment(self, board: int, slot: int) -> Compartment:
        return self.locks.compartment(board, slot)

    def compartments(self) -> Iterator[Compartment]:
        for board in self.locks.boards.values():
            yield from board.compartments

    # What a person does at the scanner.

    def scan(self, code: str, symbology: str | None = QR_SYMBOLOGY) -> None:
        """A person holds `code` up to the scanner. With the re-read fault on, a code stays
        in view and is read again about once a second, `rereads` times, unless another code
        is shown meanwhile (inside a running event loop)."""
        self._shown += 1
        self.scanner.present(code, self.clock.monotonic(), symbology)
        if self.rereads:
            task = asyncio.ensure_future(self._reread(code, symbology, self._shown, self.rereads))
            self._rereading.add(task)
            task.add_done_callback(self._rereading.discard)

    async def _reread(self, code: str, symbology: str | None, shown: int, count: int) -> None:
        for _ in range(count):
            await self.clock.sleep(REREAD_INTERVAL_S)
            if self._shown != shown:
                return  # another code was shown: this one has left the view
            self.scanner.present(code, self.clock.monotonic(), symbology)

    # Faults.

    def set_fault(
        self,
        kind: FaultKind,
        on: bool,
        board: int | None = None,
        slot: int | None = None,
        value: float | None = None,
    ) -> None:
        """Switch one fault on or off; raises ConfigError (changing nothing) if misaddressed."""
        kind = FaultKind(kind)
        scope = SCOPE[kind]
        now = self.clock.monotonic()
        if scope is Scope.SCANNER:
            self._scanner_fault(kind, on, value, now)
            return
        if scope is Scope.BUS:  # ADAPTER_ECHO, the only fault of the bus's adapter
            if self.ports is None:
                raise ConfigError("the lock bus is on no transport yet; no adapter to echo")
            self.ports.locks.set_echo(on)
            self.adapter_echo = on
            return
        if board is None:
            raise ConfigError(f"fault {kind} needs a board")
        target = self.board(board)
        if scope is Scope.BOARD:
            if kind is FaultKind.POWER_LOSS:
                target.set_power(not on, now)
            else:
                target.faults.set(kind, on, value)
            return
        if slot is None:
            raise ConfigError(f"fault {kind} needs a slot")
        self._slot_fault(kind, on, self.compartment(board, slot), value, now)

    @staticmethod
    def _slot_fault(
        kind: FaultKind, on: bool, compartment: Compartment, value: float | None, now: float
    ) -> None:
        if kind is FaultKind.LOCK_STUCK:
            compartment.lock_stuck = on
        elif kind is FaultKind.DOOR_JAMMED:
            compartment.door_jammed = on
        elif kind is FaultKind.DOOR_LEFT_OPEN:
            compartment.door_left_open = on
        elif kind is FaultKind.DOOR_FORCED:
            if on:
                compartment.force_open(now)
        elif kind is FaultKind.IR_STUCK:
            if value is not None and value not in (0, 1):
                raise ConfigError("ir_stuck takes 1 (sees a parcel) or 0 (sees nothing)")
            compartment.ir_stuck = (value is None or bool(value)) if on else None

    def _scanner_fault(self, kind: FaultKind, on: bool, value: float | None, now: float) -> None:
        if kind is FaultKind.SCANNER_UNPLUGGED:
            if self.ports is None:
                raise ConfigError("the scanner is on no transport yet; nothing to unplug")
            if on:
                self.ports.scanner.unplug()
            else:
                self.ports.scanner.plug()
        elif kind is FaultKind.SCANNER_GARBAGE:
            count = DEFAULT_GARBAGE_BYTES if value is None else int(value)
            if count < 1:
                raise ConfigError("scanner garbage needs at least one byte")
            self.scanner.garbage_bytes = count if on else 0
            if on:
                self.scanner.spew_garbage(now)
        elif kind is FaultKind.SCANNER_SUFFIX:
            ends = {1: Suffix.CRLF, 2: Suffix.LF}
            if on and (value or 1) not in ends:
                raise ConfigError("scanner_suffix takes 1 (CR LF) or 2 (LF)")
            self.scanner.line_end = ends[int(value or 1)] if on else None
        elif kind is FaultKind.SCANNER_AIM_ID:
            self.scanner.aim_ids = on
        elif kind is FaultKind.SCANNER_REREADS:
            count = DEFAULT_REREADS if value is None else int(value)
            if count < 1:
                raise ConfigError("scanner re-reads need a count of at least 1")
            self.rereads = count if on else 0

    def faults(self) -> list[dict[str, Any]]:
        """Every fault now switched on, as {"kind", "board", "slot"} records."""
        active: list[dict[str, Any]] = []
        for board in self.locks.boards.values():
            if not board.powered:
                active.append({"kind": FaultKind.POWER_LOSS.value, "board": board.id})
            active.extend({"kind": name, "board": board.id} for name in board.faults.active())
            for c in board.compartments:
                flags = {
                    FaultKind.LOCK_STUCK: c.lock_stuck,
                    FaultKind.DOOR_JAMMED: c.door_jammed,
                    FaultKind.DOOR_LEFT_OPEN: c.door_left_open,
                    FaultKind.IR_STUCK: c.ir_stuck is not None,
                }
                active.extend(
                    {"kind": kind.value, "board": board.id, "slot": c.slot}
                    for kind, flag in flags.items()
                    if flag
                )
        if self.ports is not None and not self.ports.scanner.plugged:
            active.append({"kind": FaultKind.SCANNER_UNPLUGGED.value})
        if self.scanner.garbage_bytes:
            active.append({"kind": FaultKind.SCANNER_GARBAGE.value})
        field_faults = {
            FaultKind.ADAPTER_ECHO: self.adapter_echo,
            FaultKind.SCANNER_SUFFIX: self.scanner.line_end is not None,
            FaultKind.SCANNER_AIM_ID: self.scanner.aim_ids,
            FaultKind.SCANNER_REREADS: bool(self.rereads),
        }
        active.extend({"kind": kind.value} for kind, on in field_faults.items() if on)
        return active

    def status(self) -> dict[str, Any]:
        """The whole site as plain data (the control channel's `status`)."""
        now = self.clock.monotonic()
        boards = []
        for board in self.locks.boards.values():
            slots = []
            for c in board.compartments:
                view = c.view(now)
                slots.append(
                    {
                        "slot": c.slot,
                        "locked": view.locked,
                        "door_open": view.door_open,
                        "occupied": view.occupied,
                        "contents": list(view.contents),
                    }
                )
            boards.append({"board": board.id, "powered": board.powered, "slots": slots})
        return {
            "profile": self.config.profile.value,
            "boards": boards,
            "scanner": {
                "mode": self.scanner.mode.value,
                "plugged": self.ports is None or self.ports.scanner.plugged,
            },
            "faults": self.faults(),
        }

    # Transports.

    def serve_memory(self) -> tuple[MemoryPort, MemoryPort]:
        """Serve both devices in memory (inside the running loop); returns (locks, scanner)."""
        locks, scanner = MemoryPort(self.locks, self.clock), MemoryPort(self.scanner, self.clock)
        self._serve(locks, scanner)
        return locks, scanner

    def serve_pty(self, directory: Path) -> tuple[PtyPort, PtyPort]:
        """Serve both devices on ptys at DIR/locks and DIR/scanner; returns (locks, scanner)."""
        locks = PtyPort(self.locks, self.clock, Path(directory) / "locks")
        scanner = PtyPort(self.scanner, self.clock, Path(directory) / "scanner")
        self._serve(locks, scanner)
        return locks, scanner

    def _serve(self, locks: Port, scanner: Port) -> None:
        if self.ports is not None:
            raise ConfigError("this site is already served; one transport per site")
        self.ports = SitePorts(locks, scanner)
        locks.start()
        scanner.start()

    async def aclose(self) -> None:
        for task in list(self._rereading):
            task.cancel()
        await asyncio.gather(*self._rereading, return_exceptions=True)
        if self.ports is not None:
            await self.ports.locks.aclose()
            await self.ports.scanner.aclose()
