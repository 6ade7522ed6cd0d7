"""What a simulated lock-board family gives the site: its bus, its options and its CLI flags.

Each family's device module (hw_sim/devices/cu16.py, rs485_board.py, ...) ends with a
`DEVICE = DeviceFamily(...)`; hw_sim/devices/families.py collects them by `BoardFamily`. The
site (site.py) and `lockernet hwsim` (cli.py) look the family up and never branch on it.
A family's bus and boards build on board_bus.py's BoardBus and SimulatedBoard, so the module
keeps only the family's protocol.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from hw_sim.devices.compartment import Compartment
from hw_sim.devices.faults import LineFaults
from hw_sim.devices.reply_schedule import SerialDevice
from protocols.boards import FamilyFacts
from protocols.clock import Clock
from protocols.reassembly import ReassemblyStats


class SimBoard(Protocol):
    """One simulated board: its compartments, its line faults and its power."""

    id: int
    compartments: list[Compartment]
    faults: LineFaults
    powered: bool

    def set_power(self, on: bool, at: float) -> None: ...


class SimBus(SerialDevice, Protocol):
    """The boards on one simulated RS485 line, served as one serial device."""

    @property
    def boards(self) -> Mapping[int, SimBoard]: ...

    @property
    def rx_stats(self) -> ReassemblyStats: ...

    def compartment(self, board: int, slot: int) -> Compartment:
        """A board's compartment by 1-based lock; ConfigError if there is none."""
        ...


@dataclass(frozen=True)
class DeviceFamily:
    """One simulated family: how to build its bus and how its options are set.

    `options` is the family's options dataclass (every field has a default); `first_board`
    the id of a site's first board (its boards are numbered on from there); `make_bus(clock,
    board_ids, options, seed)` builds the bus; `add_arguments(group)` and `options_from(args)`
    are the family's `lockernet hwsim` flags; `lock_bus_keys(options, board_ids)` the
    `[lock_bus]` keys an edge agent needs to drive this bus (family, boards, ...).
    """

    facts: FamilyFacts
    options: type[Any]
    first_board: int
    make_bus: Callable[[Clock, Iterable[int], Any, int], SimBus]
    add_arguments: Callable[[argparse._ArgumentGroup], None]
    options_from: Callable[[argparse.Namespace], Any]
    lock_bus_keys: Callable[[Any, list[int]], dict[str, Any]]
    locks_per_board: Callable[[Any], int]
